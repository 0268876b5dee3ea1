output "sfjwt_key" {
  description = "SFJWT_KEY for the workload."
  value       = module.sfjwt.sfjwt_key
}

output "operator_command" {
  description = "What an operator runs once: `sfjwt keygen --store vault:...` (KV) or `sfjwt cert --key vault-transit:...` (Transit); then upload the certificate to the connected app."
  value       = module.sfjwt.operator_command
}

output "kv_write_policy_name" {
  description = "Policy to give the operators who run `sfjwt keygen --store vault:...`."
  value       = module.sfjwt.kv_write_policy_name
}

output "policies" {
  description = "Policies bound to the auth roles."
  value       = module.sfjwt.policies
}

output "approle_role_name" {
  description = "AppRole role name."
  value       = module.sfjwt.approle_role_name
}

output "jwt_role_name" {
  description = "JWT role name."
  value       = module.sfjwt.jwt_role_name
}
