locals {
  kv_mount      = var.enable_kv && var.create_kv_mount ? vault_mount.kv[0].path : var.kv_mount
  transit_mount = local.need_transit && var.create_transit_mount ? vault_mount.transit[0].path : var.transit_mount
  need_transit  = var.enable_transit || var.enable_shared_cache
  approle_path  = var.enable_approle && var.create_approle_backend ? vault_auth_backend.approle[0].path : var.approle_path
  jwt_path      = var.enable_jwt && var.create_jwt_backend ? vault_jwt_auth_backend.jwt[0].path : var.jwt_path

  # Exactly the paths the plugins touch.
  kv_data_path      = "${local.kv_mount}/data/${var.kv_secret_path}"
  kv_metadata_path  = "${local.kv_mount}/metadata/${var.kv_secret_path}"
  transit_sign_path = "${local.transit_mount}/sign/${var.transit_key_name}"
  transit_key_path  = "${local.transit_mount}/keys/${var.transit_key_name}"

  policies = concat(
    [vault_policy.token_self.name],
    var.enable_kv ? [vault_policy.kv_read[0].name] : [],
    var.enable_transit ? [vault_policy.transit_sign[0].name] : [],
    var.enable_shared_cache ? [vault_policy.shared_cache[0].name] : [],
  )

  sfjwt_key = var.enable_transit ? "vault-transit:${var.transit_mount}/${var.transit_key_name}" : "vault:${var.kv_mount}/${var.kv_secret_path}"

  # What an operator runs once after apply (and the policy that lets them).
  operator_command = var.enable_transit ? "sfjwt cert --key ${local.sfjwt_key} --out salesforce-jwt.crt" : "sfjwt keygen --store ${local.sfjwt_key} --cert-out salesforce-jwt.crt"
}

# --- The token's own lifecycle ------------------------------------------------------
# Tokens are issued without the `default` policy (token_no_default_policy), so
# they hold only the policies of this module. The plugin renews its token at
# 2/3 of its TTL and looks it up to tell an expired token from a denied path.

data "vault_policy_document" "token_self" {
  rule {
    path         = "auth/token/renew-self"
    capabilities = ["update"]
    description  = "Renew the login token"
  }

  rule {
    path         = "auth/token/lookup-self"
    capabilities = ["read"]
    description  = "Tell an expired token from a denied path"
  }
}

resource "vault_policy" "token_self" {
  name   = "${var.name}-token-self"
  policy = data.vault_policy_document.token_self.hcl
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

  rule {
    path         = local.kv_metadata_path
    capabilities = ["read"]
    description  = "Find the previous version for the rotation fallback (version numbers, no data)"
  }
}

resource "vault_policy" "kv_read" {
  count = var.enable_kv ? 1 : 0

  name   = "${var.name}-kv-read"
  policy = data.vault_policy_document.kv_read[0].hcl
}

# For operators, not attached to the workload roles: `sfjwt keygen --store
# vault:<mount>/<path>` reads the current version (to keep other fields and to
# check-and-set against it) and writes a new one.
data "vault_policy_document" "kv_write" {
  count = var.enable_kv ? 1 : 0

  rule {
    path         = local.kv_data_path
    capabilities = ["create", "read", "update"]
    description  = "Store a new version of the Salesforce JWT private key (check-and-set)"
  }

  rule {
    path         = local.kv_metadata_path
    capabilities = ["read"]
    description  = "The current version number when the latest version is deleted (check-and-set)"
  }
}

resource "vault_policy" "kv_write" {
  count = var.enable_kv ? 1 : 0

  name   = "${var.name}-kv-write"
  policy = data.vault_policy_document.kv_write[0].hcl
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

  backend                 = local.approle_path
  role_name               = var.name
  bind_secret_id          = true
  secret_id_ttl           = var.approle_secret_id_ttl
  secret_id_num_uses      = var.approle_secret_id_num_uses
  secret_id_bound_cidrs   = var.approle_secret_id_bound_cidrs
  token_policies          = local.policies
  token_no_default_policy = true
  token_ttl               = var.token_ttl
  token_max_ttl           = var.token_max_ttl
  token_bound_cidrs       = var.token_bound_cidrs
  token_type              = "service"

  lifecycle {
    precondition {
      condition     = var.token_ttl <= var.token_max_ttl
      error_message = "token_ttl must not exceed token_max_ttl."
    }
  }
}

# --- JWT / OIDC (CI or Kubernetes service account tokens) --------------------------

resource "vault_jwt_auth_backend" "jwt" {
  count = var.enable_jwt && var.create_jwt_backend ? 1 : 0

  path               = var.jwt_path
  type               = "jwt"
  oidc_discovery_url = var.jwt_oidc_discovery_url
  bound_issuer       = var.jwt_bound_issuer != null ? var.jwt_bound_issuer : var.jwt_oidc_discovery_url
  description        = "${var.name}: JWT auth for sfjwt workloads"

  lifecycle {
    precondition {
      condition     = var.jwt_oidc_discovery_url != null
      error_message = "create_jwt_backend needs jwt_oidc_discovery_url (the issuer whose keys verify the JWTs)."
    }
  }
}

resource "vault_jwt_auth_backend_role" "this" {
  count = var.enable_jwt ? 1 : 0

  backend                 = local.jwt_path
  role_name               = var.name
  role_type               = "jwt"
  bound_audiences         = var.jwt_bound_audiences
  bound_subject           = var.jwt_bound_subject
  bound_claims            = var.jwt_bound_claims
  user_claim              = var.jwt_user_claim
  token_policies          = local.policies
  token_no_default_policy = true
  token_ttl               = var.token_ttl
  token_max_ttl           = var.token_max_ttl
  token_bound_cidrs       = var.token_bound_cidrs
  token_type              = "service"

  lifecycle {
    precondition {
      condition     = length(var.jwt_bound_audiences) > 0
      error_message = "jwt_bound_audiences must not be empty: a JWT role without an audience accepts tokens minted for other services."
    }

    # The audience alone is chosen by the workload (a GitHub workflow sets its
    # own): without a subject or claims, any workload of the issuer could log
    # in and read the key.
    precondition {
      condition     = (var.jwt_bound_subject != null && var.jwt_bound_subject != "") || length(var.jwt_bound_claims) > 0
      error_message = "Set jwt_bound_subject or jwt_bound_claims: with the audience alone, any workload of the issuer (any GitHub repository, any service account) can log in and read the key."
    }

    precondition {
      condition     = var.token_ttl <= var.token_max_ttl
      error_message = "token_ttl must not exceed token_max_ttl."
    }
  }
}
