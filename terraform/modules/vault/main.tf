locals {
  kv_mount      = var.enable_kv && var.create_kv_mount ? vault_mount.kv[0].path : var.kv_mount
  transit_mount = local.need_transit && var.create_transit_mount ? vault_mount.transit[0].path : var.transit_mount
  need_transit  = var.enable_transit || var.enable_shared_cache
  approle_path  = var.enable_approle && var.create_approle_backend ? vault_auth_backend.approle[0].path : var.approle_path
  jwt_path      = var.enable_jwt && var.create_jwt_backend ? vault_jwt_auth_backend.jwt[0].path : var.jwt_path

  # Exactly the paths the plugins touch.
  kv_data_path      = "${local.kv_mount}/data/${var.kv_secret_path}"
  transit_sign_path = "${local.transit_mount}/sign/${var.transit_key_name}"
  transit_key_path  = "${local.transit_mount}/keys/${var.transit_key_name}"

  policies = concat(
    var.enable_kv ? [vault_policy.kv_read[0].name] : [],
    var.enable_transit ? [vault_policy.transit_sign[0].name] : [],
    var.enable_shared_cache ? [vault_policy.shared_cache[0].name] : [],
  )

  sfjwt_key = var.enable_transit ? "vault-transit:${var.transit_mount}/${var.transit_key_name}" : "vault:${var.kv_mount}/${var.kv_secret_path}"
}

# --- KV v2 --------------------------------------------------------------------

resource "vault_mount" "kv" {
  count = var.enable_kv && var.create_kv_mount ? 1 : 0

  path        = var.kv_mount
  type        = "kv"
  options     = { version = "2" }
  description = "${var.name}: Salesforce JWT private keys (KV v2)"
}

# No vault_kv_secret_v2 on purpose: the private key never lands in Terraform
# state. Store it with: sfjwt keygen --store vault:<mount>/<path>

data "vault_policy_document" "kv_read" {
  count = var.enable_kv ? 1 : 0

  rule {
    path         = local.kv_data_path
    capabilities = ["read"]
    description  = "Read the one Salesforce JWT private key (KV v2 data path)"
  }
}

resource "vault_policy" "kv_read" {
  count = var.enable_kv ? 1 : 0

  name   = "${var.name}-kv-read"
  policy = data.vault_policy_document.kv_read[0].hcl
}

# --- Transit (keyless) ----------------------------------------------------------

resource "vault_mount" "transit" {
  count = local.need_transit && var.create_transit_mount ? 1 : 0

  path        = var.transit_mount
  type        = "transit"
  description = "${var.name}: Salesforce JWT signing keys"
}

resource "vault_transit_secret_backend_key" "signing" {
  count = var.enable_transit ? 1 : 0

  backend                = local.transit_mount
  name                   = var.transit_key_name
  type                   = var.transit_key_type
  exportable             = false
  allow_plaintext_backup = false
  deletion_allowed       = false
}

data "vault_policy_document" "transit_sign" {
  count = var.enable_transit ? 1 : 0

  rule {
    path         = local.transit_sign_path
    capabilities = ["update"]
    description  = "Sign JWT assertions with the one Transit key"
  }

  rule {
    path         = local.transit_key_path
    capabilities = ["read"]
    description  = "Read the public key (for the connected app certificate)"
  }
}

resource "vault_policy" "transit_sign" {
  count = var.enable_transit ? 1 : 0

  name   = "${var.name}-transit-sign"
  policy = data.vault_policy_document.transit_sign[0].hcl
}

# --- AppRole ---------------------------------------------------------------------

resource "vault_auth_backend" "approle" {
  count = var.enable_approle && var.create_approle_backend ? 1 : 0

  type = "approle"
  path = var.approle_path
}

# RoleID/SecretID are NOT created here (a SecretID in state is a credential in
# state). Fetch them out of band: vault read auth/<path>/role/<name>/role-id and
# vault write -f auth/<path>/role/<name>/secret-id
resource "vault_approle_auth_backend_role" "this" {
  count = var.enable_approle ? 1 : 0

  backend               = local.approle_path
  role_name             = var.name
  bind_secret_id        = true
  secret_id_ttl         = var.approle_secret_id_ttl
  secret_id_bound_cidrs = var.approle_secret_id_bound_cidrs
  token_policies        = local.policies
  token_ttl             = var.token_ttl
  token_max_ttl         = var.token_max_ttl
  token_bound_cidrs     = var.token_bound_cidrs
  token_type            = "service"
}

# --- JWT / OIDC (CI or Kubernetes service account tokens) --------------------------

resource "vault_jwt_auth_backend" "jwt" {
  count = var.enable_jwt && var.create_jwt_backend ? 1 : 0

  path               = var.jwt_path
  type               = "jwt"
  oidc_discovery_url = var.jwt_oidc_discovery_url
  bound_issuer       = coalesce(var.jwt_bound_issuer, var.jwt_oidc_discovery_url)
  description        = "${var.name}: JWT auth for sfjwt workloads"
}

resource "vault_jwt_auth_backend_role" "this" {
  count = var.enable_jwt ? 1 : 0

  backend           = local.jwt_path
  role_name         = var.name
  role_type         = "jwt"
  bound_audiences   = var.jwt_bound_audiences
  bound_subject     = var.jwt_bound_subject
  bound_claims      = var.jwt_bound_claims
  user_claim        = var.jwt_user_claim
  token_policies    = local.policies
  token_ttl         = var.token_ttl
  token_max_ttl     = var.token_max_ttl
  token_bound_cidrs = var.token_bound_cidrs
  token_type        = "service"

  lifecycle {
    precondition {
      condition     = length(var.jwt_bound_audiences) > 0
      error_message = "jwt_bound_audiences must not be empty: a JWT role without an audience accepts tokens minted for other services."
    }
  }
}
