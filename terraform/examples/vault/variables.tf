variable "name" {
  description = "Name prefix for policies and roles."
  type        = string
  default     = "sfjwt-example"
}

variable "kv_mount" {
  description = "KV v2 mount path."
  type        = string
  default     = "sfjwt"
}

variable "kv_secret_path" {
  description = "Secret path inside the KV mount."
  type        = string
  default     = "salesforce/jwt-key"
}

variable "enable_transit" {
  description = "Also create a Transit RSA signing key (keyless mode)."
  type        = bool
  default     = false
}

variable "create_approle_backend" {
  description = "Enable AppRole at auth/approle (false if it already is)."
  type        = bool
  default     = true
}

variable "enable_jwt" {
  description = "Create and configure a JWT auth method and role."
  type        = bool
  default     = false
}

variable "jwt_oidc_discovery_url" {
  description = "OIDC discovery URL of the JWT issuer."
  type        = string
  default     = null
}

variable "jwt_bound_audiences" {
  description = "Accepted JWT audiences."
  type        = list(string)
  default     = []
}

variable "jwt_bound_subject" {
  description = "Exact JWT subject to accept (this or jwt_bound_claims is required with enable_jwt)."
  type        = string
  default     = null
}

variable "jwt_bound_claims" {
  description = "Claims the JWT must carry, e.g. { repository = \"acme/payments\" } (this or jwt_bound_subject is required with enable_jwt)."
  type        = map(string)
  default     = {}
}

variable "enable_shared_cache" {
  description = "Share one Salesforce session across all instances through the module's token cache (SFJWT_TOKEN_CACHE)."
  type        = bool
  default     = false
}
