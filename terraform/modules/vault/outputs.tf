output "sfjwt_key" {
  description = "Key reference for SFJWT_KEY: `vault:<mount>/<path>` (KV) or `vault-transit:<mount>/<key>` when enable_transit."
  value       = local.sfjwt_key
}

output "kv_mount" {
  description = "Path of the KV v2 mount (null when enable_kv = false)."
  value       = var.enable_kv ? local.kv_mount : null
}

output "kv_data_path" {
  description = "The only KV path the read policy grants (`<mount>/data/<path>`); null when enable_kv = false."
  value       = var.enable_kv ? local.kv_data_path : null
}

output "kv_write_policy_name" {
  description = "Name of the operators' policy for `sfjwt keygen --store vault:<mount>/<path>` (not attached to the roles; null when enable_kv = false)."
  value       = var.enable_kv ? vault_policy.kv_write[0].name : null
}

output "operator_command" {
  description = "What an operator runs once after apply: `sfjwt keygen --store vault:...` (needs the kv_write policy) or, with enable_transit, `sfjwt cert --key vault-transit:...` (needs the transit policy)."
  value       = local.operator_command
}

output "kv_policy_name" {
  description = "Name of the KV read-only policy (null when enable_kv = false)."
  value       = var.enable_kv ? vault_policy.kv_read[0].name : null
}

output "transit_mount" {
  description = "Path of the Transit mount (null unless enable_transit)."
  value       = var.enable_transit ? local.transit_mount : null
}

output "transit_key_name" {
  description = "Name of the Transit signing key (null unless enable_transit)."
  value       = var.enable_transit ? vault_transit_secret_backend_key.signing[0].name : null
}

output "transit_policy_name" {
  description = "Name of the Transit sign-only policy (null unless enable_transit)."
  value       = var.enable_transit ? vault_policy.transit_sign[0].name : null
}

output "policies" {
  description = "Policies attached to the AppRole and JWT roles."
  value       = local.policies
}

output "approle_path" {
  description = "Mount path of the AppRole auth method (null unless enable_approle)."
  value       = var.enable_approle ? local.approle_path : null
}

output "approle_role_name" {
  description = "AppRole role name; get its RoleID/SecretID out of band (null unless enable_approle)."
  value       = var.enable_approle ? vault_approle_auth_backend_role.this[0].role_name : null
}

output "jwt_path" {
  description = "Mount path of the JWT auth method (null unless enable_jwt)."
  value       = var.enable_jwt ? local.jwt_path : null
}

output "jwt_role_name" {
  description = "JWT auth role name (null unless enable_jwt)."
  value       = var.enable_jwt ? vault_jwt_auth_backend_role.this[0].role_name : null
}

output "token_cache" {
  description = "SFJWT_TOKEN_CACHE for the workers: `vault-kv:<kv mount>/<prefix>?transit=<mount>/<key>&mount=<kv mount>` (the mount is named, so a multi-segment mount works; null unless enable_shared_cache)."
  value       = var.enable_shared_cache ? "vault-kv:${local.kv_mount}/${var.cache_kv_prefix}?transit=${local.transit_mount}/${var.cache_transit_key_name}&mount=${local.kv_mount}" : null
}

output "shared_cache_policy_name" {
  description = "Name of the token cache policy (null unless enable_shared_cache)."
  value       = var.enable_shared_cache ? vault_policy.shared_cache[0].name : null
}
