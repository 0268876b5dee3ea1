data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  # `id` is the region name in provider 5 and 6 (`name` is deprecated in 6).
  region = data.aws_region.current.id

  # Secrets Manager mode (default) vs keyless KMS signing mode: exactly one is built.
  use_secret = !var.enable_kms_signing

  secret_name    = coalesce(var.secret_name, "${var.name}/salesforce-jwt-key")
  function_name  = coalesce(var.function_name, "${var.name}-token")
  log_group_name = "/aws/lambda/${local.function_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  token_url      = coalesce(var.sf_token_url, "${trimsuffix(var.sf_audience, "/")}/services/oauth2/token")

  secrets_manager_service = "secretsmanager.${local.region}.amazonaws.com"

  # The one signing algorithm the aws-kms plugin uses (RS256).
  signing_algorithm = "RSASSA_PKCS1_V1_5_SHA_256"

  # The shared token cache (enable_shared_cache): the plugin's encryption
  # context key, and the reference the Lambda gets as SFJWT_TOKEN_CACHE.
  cache_context_key = "sfjwt:cache"
  token_cache       = var.enable_shared_cache ? "dynamodb:${aws_dynamodb_table.token_cache[0].name}?kms_key=${module.cache_key[0].arn}&region=${local.region}" : "local"

  # Who administers the keys. Default: the account root, which delegates to IAM
  # policies of this account (the documented KMS default, minus key usage).
  key_admin_arns = length(var.key_admin_arns) > 0 ? var.key_admin_arns : ["arn:${local.partition}:iam::${local.account_id}:root"]

  # The value the plugins read: aws-sm:<secret arn> or aws-kms:<key arn>.
  sfjwt_key = local.use_secret ? "aws-sm:${aws_secretsmanager_secret.this[0].arn}" : "aws-kms:${module.signing_key[0].arn}"
}
