data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # Secrets Manager mode (default) vs keyless KMS signing mode: exactly one is built.
  use_secret = !var.enable_kms_signing

  secret_name    = coalesce(var.secret_name, "${var.name}/salesforce-jwt-key")
  function_name  = coalesce(var.function_name, "${var.name}-token")
  log_group_name = "/aws/lambda/${local.function_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  token_url      = coalesce(var.sf_token_url, "${trimsuffix(var.sf_audience, "/")}/services/oauth2/token")

  secrets_manager_service = "secretsmanager.${local.region}.amazonaws.com"
  dynamodb_service        = "dynamodb.${local.region}.amazonaws.com"

  # The shared token cache (enable_shared_cache): the plugin's encryption
  # context key, and the reference the Lambda gets as SFJWT_TOKEN_CACHE.
  cache_context_key = "sfjwt:cache"
  token_cache       = var.enable_shared_cache ? "dynamodb:${aws_dynamodb_table.token_cache[0].name}?kms_key=${aws_kms_key.cache_token[0].arn}&region=${local.region}" : "local"

  # Who administers the keys. Default: the account root, which delegates to IAM
  # policies of this account (the documented KMS default, minus key usage).
  key_admin_arns = length(var.key_admin_arns) > 0 ? var.key_admin_arns : ["arn:${local.partition}:iam::${local.account_id}:root"]

  # Administration only: no Encrypt/Decrypt/Sign, no wildcard. Administrators
  # cannot read the secret nor sign with the key.
  key_admin_actions = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]

  # The value the plugins read: aws-sm:<secret arn> or aws-kms:<key arn>.
  sfjwt_key = local.use_secret ? "aws-sm:${aws_secretsmanager_secret.this[0].arn}" : "aws-kms:${aws_kms_key.signing[0].arn}"
}
