output "sfjwt_key" {
  description = "SFJWT_KEY for the workload."
  value       = module.sfjwt.sfjwt_key
}

output "keygen_command" {
  description = "Command an operator runs once to create the key and store it in KV."
  value       = "sfjwt keygen --store vault:${var.kv_mount}/${var.kv_secret_path}"
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
