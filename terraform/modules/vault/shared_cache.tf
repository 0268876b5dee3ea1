# --- Shared token cache (enable_shared_cache) ---------------------------------
# Workers share one Salesforce session through KV v2 entries (one per app and
# user, named by a hash, written with check-and-set) instead of each logging
# in. The token is encrypted with a derived Transit key before it is written;
# the derivation context is the entry's hash, so a ciphertext only decrypts
# for its own entry.

resource "vault_transit_secret_backend_key" "cache" {
  count = var.enable_shared_cache ? 1 : 0

  backend                = local.transit_mount
  name                   = var.cache_transit_key_name
  type                   = "aes256-gcm96"
  derived                = true
  exportable             = false
  allow_plaintext_backup = false
  deletion_allowed       = true # cached tokens are short-lived: deleting the key only empties the cache
}

data "vault_policy_document" "shared_cache" {
  count = var.enable_shared_cache ? 1 : 0

  # The entries are named by a hash of (token URL, audience, consumer key,
  # user), hence the one glob, limited to the cache prefix. No delete, no
  # list, no metadata: entries are updated in place and read by name.
  rule {
    path         = "${local.kv_mount}/data/${var.cache_kv_prefix}/*"
    capabilities = ["create", "read", "update"]
    description  = "Read and check-and-set the token cache entries"
  }

  rule {
    path         = "${local.transit_mount}/encrypt/${var.cache_transit_key_name}"
    capabilities = ["update"]
    description  = "Encrypt tokens before they are cached"
  }

  rule {
    path         = "${local.transit_mount}/decrypt/${var.cache_transit_key_name}"
    capabilities = ["update"]
    description  = "Decrypt cached tokens"
  }
}

resource "vault_policy" "shared_cache" {
  count = var.enable_shared_cache ? 1 : 0

  name   = "${var.name}-token-cache"
  policy = data.vault_policy_document.shared_cache[0].hcl

  lifecycle {
    # The cache policy may create and update anything under the prefix: the
    # private key must not live there (nor at the prefix itself, to keep the
    # two apart), or a cache write could replace it.
    precondition {
      condition     = !var.enable_kv || !startswith("${var.kv_secret_path}/", "${var.cache_kv_prefix}/")
      error_message = "kv_secret_path must not be cache_kv_prefix or under it: the token cache policy may write there, so a cache write could replace the private key."
    }
  }
}
