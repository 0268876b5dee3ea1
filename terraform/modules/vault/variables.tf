variable "name" {
  description = "Name prefix for policies and auth roles."
  type        = string
  default     = "sfjwt"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters of letters, digits, '-' or '_'."
  }
}

# --- KV v2 (vault:<mount>/<path>[#field]) -----------------------------------

variable "enable_kv" {
  description = "Build the KV v2 side (read policy on the key's path). Set false for a transit-only (keyless) setup."
  type        = bool
  default     = true
}

variable "create_kv_mount" {
  description = "Create the KV v2 mount at kv_mount. Set false to reuse an existing KV v2 mount."
  type        = bool
  default     = true
}

variable "kv_mount" {
  description = "Path of the KV v2 mount (the `<mount>` in vault:<mount>/<path>)."
  type        = string
  default     = "sfjwt"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.kv_mount))
    error_message = "kv_mount must be a slash-separated path without leading/trailing slash or glob characters."
  }
}

variable "kv_secret_path" {
  description = "Path of the secret inside the mount (the `<path>` in vault:<mount>/<path>). Nothing is written there by Terraform: store the key with `sfjwt keygen --store vault:<mount>/<path>`."
  type        = string
  default     = "salesforce/jwt-key"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.kv_secret_path))
    error_message = "kv_secret_path must be a slash-separated path without leading/trailing slash or glob characters (* and + would widen the policy)."
  }
}

# --- Transit (vault-transit:<mount>/<key>) ----------------------------------

variable "enable_transit" {
  description = "Keyless mode: build a Transit RSA key and a sign-only policy."
  type        = bool
  default     = false
}

variable "create_transit_mount" {
  description = "Create the Transit mount at transit_mount (only when enable_transit). Set false to reuse an existing one."
  type        = bool
  default     = true
}

variable "transit_mount" {
  description = "Path of the Transit mount (the `<mount>` in vault-transit:<mount>/<key>)."
  type        = string
  default     = "sfjwt-transit"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.transit_mount))
    error_message = "transit_mount must be a slash-separated path without leading/trailing slash or glob characters."
  }
}

variable "transit_key_name" {
  description = "Name of the Transit signing key (the `<key>` in vault-transit:<mount>/<key>)."
  type        = string
  default     = "salesforce-jwt"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.transit_key_name))
    error_message = "transit_key_name may only contain letters, digits, '.', '-' and '_'."
  }
}

variable "transit_key_type" {
  description = "Transit key type. Salesforce verifies RS256, so only RSA types are accepted."
  type        = string
  default     = "rsa-2048"

  validation {
    condition     = contains(["rsa-2048", "rsa-3072", "rsa-4096"], var.transit_key_type)
    error_message = "transit_key_type must be rsa-2048, rsa-3072 or rsa-4096."
  }
}

# --- Shared token cache (vault-kv:<kv mount>/<prefix>?transit=<mount>/<key>) ---

variable "enable_shared_cache" {
  description = "Fleet-wide token cache: a derived aes256-gcm96 Transit key that encrypts cached tokens, and a policy (attached to the roles) for create/read/update under <kv_mount>/data/<cache_kv_prefix>/ and encrypt/decrypt with that key. Concurrent workers then share one Salesforce session."
  type        = bool
  default     = false
}

variable "cache_kv_prefix" {
  description = "Path under kv_mount holding one cache entry per app and user (named by a hash): the `<prefix>` in vault-kv:<kv_mount>/<prefix>."
  type        = string
  default     = "sfjwt-token-cache"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.cache_kv_prefix))
    error_message = "cache_kv_prefix must be a slash-separated path without leading/trailing slash or glob characters."
  }
}

variable "cache_transit_key_name" {
  description = "Name of the Transit key (aes256-gcm96, derived) that encrypts cached tokens."
  type        = string
  default     = "sfjwt-token-cache"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.cache_transit_key_name))
    error_message = "cache_transit_key_name may only contain letters, digits, '.', '-' and '_'."
  }
}

# --- Auth --------------------------------------------------------------------

variable "token_ttl" {
  description = "TTL (seconds) of the Vault tokens issued by the AppRole/JWT roles."
  type        = number
  default     = 300

  validation {
    condition     = var.token_ttl > 0 && var.token_ttl <= 86400
    error_message = "token_ttl must be between 1 and 86400 seconds."
  }
}

variable "token_max_ttl" {
  description = "Maximum TTL (seconds) of the Vault tokens issued by the AppRole/JWT roles."
  type        = number
  default     = 900

  validation {
    condition     = var.token_max_ttl > 0 && var.token_max_ttl <= 86400
    error_message = "token_max_ttl must be between 1 and 86400 seconds."
  }
}

variable "token_bound_cidrs" {
  description = "CIDRs the issued tokens may be used from (empty = anywhere)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.token_bound_cidrs : can(cidrhost(c, 0))])
    error_message = "token_bound_cidrs must be CIDR blocks."
  }
}

variable "enable_approle" {
  description = "Create an AppRole role bound to the policies."
  type        = bool
  default     = true
}

variable "create_approle_backend" {
  description = "Enable the AppRole auth method at approle_path (false = reuse an existing one)."
  type        = bool
  default     = false
}

variable "approle_path" {
  description = "Mount path of the AppRole auth method."
  type        = string
  default     = "approle"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.approle_path))
    error_message = "approle_path must be a slash-separated path without leading/trailing slash."
  }
}

variable "approle_secret_id_ttl" {
  description = "TTL (seconds) of AppRole SecretIDs, at most a day; a SecretID that never expires (0) is refused. The plugin logs in again with the same SecretID whenever its token reaches token_max_ttl, so a process needs a fresh SecretID within this time (deliver it wrapped, e.g. by your orchestrator or Vault Agent). SecretIDs are never created by Terraform (they would land in state)."
  type        = number
  default     = 3600

  validation {
    condition     = var.approle_secret_id_ttl >= 60 && var.approle_secret_id_ttl <= 86400
    error_message = "approle_secret_id_ttl must be between 60 and 86400 seconds (0, never expiring, is refused)."
  }
}

variable "approle_secret_id_num_uses" {
  description = "Logins one SecretID allows (0 = unlimited within its TTL). The plugin logs in again with the same SecretID each time its token reaches token_max_ttl: a limit N ends a process's access after about N x token_max_ttl seconds, or N restarts."
  type        = number
  default     = 0

  validation {
    condition     = var.approle_secret_id_num_uses >= 0 && floor(var.approle_secret_id_num_uses) == var.approle_secret_id_num_uses
    error_message = "approle_secret_id_num_uses must be a whole number >= 0."
  }
}

variable "approle_secret_id_bound_cidrs" {
  description = "CIDRs a SecretID may be used from (empty = anywhere)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.approle_secret_id_bound_cidrs : can(cidrhost(c, 0))])
    error_message = "approle_secret_id_bound_cidrs must be CIDR blocks."
  }
}

variable "enable_jwt" {
  description = "Create a JWT auth role (for CI OIDC tokens or Kubernetes service account tokens) bound to the policies."
  type        = bool
  default     = false
}

variable "create_jwt_backend" {
  description = "Enable and configure the JWT auth method at jwt_path (false = reuse an existing one)."
  type        = bool
  default     = false
}

variable "jwt_path" {
  description = "Mount path of the JWT auth method."
  type        = string
  default     = "jwt"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.jwt_path))
    error_message = "jwt_path must be a slash-separated path without leading/trailing slash."
  }
}

variable "jwt_oidc_discovery_url" {
  description = "OIDC discovery URL of the token issuer (used only when create_jwt_backend), e.g. https://token.actions.githubusercontent.com or the Kubernetes API server issuer."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_oidc_discovery_url == null || can(regex("^https://", var.jwt_oidc_discovery_url))
    error_message = "jwt_oidc_discovery_url must be an https:// URL."
  }
}

variable "jwt_bound_issuer" {
  description = "Expected `iss` of the JWTs (used only when create_jwt_backend). Defaults to jwt_oidc_discovery_url."
  type        = string
  default     = null
}

variable "jwt_bound_audiences" {
  description = "Accepted `aud` values of the JWT role (required when enable_jwt)."
  type        = list(string)
  default     = []
}

variable "jwt_user_claim" {
  description = "Claim used as the Vault entity alias name."
  type        = string
  default     = "sub"
}

variable "jwt_bound_subject" {
  description = "Exact `sub` a JWT must carry (e.g. system:serviceaccount:<ns>:<sa> or repo:<org>/<repo>:ref:refs/heads/main). With enable_jwt, this or jwt_bound_claims is required."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_bound_subject == null ? true : trimspace(var.jwt_bound_subject) != ""
    error_message = "jwt_bound_subject must be null or a non-empty subject."
  }
}

variable "jwt_bound_claims" {
  description = "Claims that must match exactly (claim => comma-separated accepted values), e.g. { repository = \"acme/payments\", environment = \"prod\" }. With enable_jwt, this or jwt_bound_subject is required."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.jwt_bound_claims) : trimspace(v) != ""])
    error_message = "jwt_bound_claims values must not be empty."
  }
}
