terraform {
  required_version = ">= 1.5.0"

  required_providers {
    vault = {
      source  = "hashicorp/vault"
      version = ">= 4.0.0"
    }
  }
}

# Address and token come from VAULT_ADDR / VAULT_TOKEN (works with OpenBao too).
provider "vault" {}

module "sfjwt" {
  source = "../../modules/vault"

  name           = var.name
  kv_mount       = var.kv_mount
  kv_secret_path = var.kv_secret_path

  enable_transit      = var.enable_transit
  enable_shared_cache = var.enable_shared_cache

  enable_approle         = true
  create_approle_backend = var.create_approle_backend

  enable_jwt             = var.enable_jwt
  create_jwt_backend     = var.enable_jwt
  jwt_oidc_discovery_url = var.jwt_oidc_discovery_url
  jwt_bound_audiences    = var.jwt_bound_audiences
  jwt_bound_subject      = var.jwt_bound_subject
  jwt_bound_claims       = var.jwt_bound_claims
}
