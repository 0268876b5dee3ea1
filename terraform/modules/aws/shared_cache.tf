# Optional fleet-wide token cache (enable_shared_cache): the Lambda instances
# share one Salesforce session through a DynamoDB table instead of each cold
# instance logging in (SFJWT_TOKEN_CACHE=dynamodb:<table>?kms_key=<key arn>).
#
# The access token is encrypted by the plugin, before it reaches DynamoDB,
# with the customer managed key `cache_key`, always with the encryption
# context {"sfjwt:cache": <hash of the cache key>}; the role may use that key
# only with that context key. The table itself is encrypted at rest with the
# AWS managed key for DynamoDB (see README: "Why the table has no customer
# managed key").

data "aws_iam_policy_document" "cache_key_usage" {
  count = var.enable_shared_cache ? 1 : 0

  statement {
    sid       = "LambdaEncryptDecryptCachedTokens"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt"]
    resources = [module.cache_key[0].arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.lambda.arn]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "kms:EncryptionContextKeys"
      values   = [local.cache_context_key]
    }

    condition {
      test     = "Null"
      variable = "kms:EncryptionContextKeys"
      values   = ["false"]
    }
  }
}

module "cache_key" {
  source = "./modules/kms-key"
  count  = var.enable_shared_cache ? 1 : 0

  alias                   = "${var.name}-token-cache"
  description             = "${var.name}: encrypts cached Salesforce access tokens (context sfjwt:cache)"
  deletion_window_in_days = var.kms_deletion_window_in_days
  admin_arns              = local.key_admin_arns
  usage_policy_json       = data.aws_iam_policy_document.cache_key_usage[0].json
  tags                    = var.tags
}

resource "aws_dynamodb_table" "token_cache" {
  count = var.enable_shared_cache ? 1 : 0
  #checkov:skip=CKV_AWS_119:The table holds only hashes, timestamps, lease ids and token ciphertext already encrypted with the cache_key CMK; a CMK table key would need use grants for whoever creates or updates the table (see README), so it uses the AWS managed key for DynamoDB.

  name                        = "${var.name}-token-cache"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.token_cache_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  # Items outlive their token by an hour, then DynamoDB deletes them.
  ttl {
    attribute_name = "ttl_epoch"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  # Encrypted at rest with the AWS managed key aws/dynamodb (no kms_key_arn).
  server_side_encryption {
    enabled = true
  }

  tags = var.tags
}

# The role: read and conditionally update the items of this one table (the
# plugin never scans, queries, puts whole items or deletes), and encrypt /
# decrypt tokens only with the sfjwt:cache encryption context.
data "aws_iam_policy_document" "shared_cache" {
  count = var.enable_shared_cache ? 1 : 0

  statement {
    sid       = "TokenCacheItems"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.token_cache[0].arn]
  }

  statement {
    sid       = "EncryptDecryptCachedTokens"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt"]
    resources = [module.cache_key[0].arn]

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "kms:EncryptionContextKeys"
      values   = [local.cache_context_key]
    }

    condition {
      test     = "Null"
      variable = "kms:EncryptionContextKeys"
      values   = ["false"]
    }
  }
}

resource "aws_iam_role_policy" "shared_cache" {
  count = var.enable_shared_cache ? 1 : 0

  name   = "token-cache"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.shared_cache[0].json
}
