# Optional fleet-wide token cache (enable_shared_cache): the Lambda instances
# share one Salesforce session through a DynamoDB table instead of each cold
# instance logging in (SFJWT_TOKEN_CACHE=dynamodb:<table>?kms_key=<key arn>).
#
# Two customer managed keys, each with one job:
# - cache_token: the plugin encrypts the access token with it (kms:Encrypt /
#   kms:Decrypt) before the token reaches DynamoDB, always with the
#   encryption context {"sfjwt:cache": <hash of the cache key>}. The role may
#   use it only with that context key.
# - cache_table: DynamoDB encrypts the table at rest (SSE) with it; the role
#   may use it only through DynamoDB (kms:ViaService).

resource "aws_kms_key" "cache_token" {
  count = var.enable_shared_cache ? 1 : 0

  description             = "${var.name}: encrypts cached Salesforce access tokens (context sfjwt:cache)"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = var.tags
}

resource "aws_kms_alias" "cache_token" {
  count = var.enable_shared_cache ? 1 : 0

  name          = "alias/${var.name}-token-cache"
  target_key_id = aws_kms_key.cache_token[0].key_id
}

data "aws_iam_policy_document" "cache_token_key_policy" {
  count = var.enable_shared_cache ? 1 : 0

  statement {
    sid       = "KeyAdministration"
    effect    = "Allow"
    actions   = local.key_admin_actions
    resources = [aws_kms_key.cache_token[0].arn]

    principals {
      type        = "AWS"
      identifiers = local.key_admin_arns
    }
  }

  statement {
    sid       = "LambdaEncryptDecryptCachedTokens"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt"]
    resources = [aws_kms_key.cache_token[0].arn]

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

resource "aws_kms_key_policy" "cache_token" {
  count = var.enable_shared_cache ? 1 : 0

  key_id = aws_kms_key.cache_token[0].id
  policy = data.aws_iam_policy_document.cache_token_key_policy[0].json
}

resource "aws_kms_key" "cache_table" {
  count = var.enable_shared_cache ? 1 : 0

  description             = "${var.name}: encrypts the token cache table at rest (DynamoDB SSE)"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = var.tags
}

resource "aws_kms_alias" "cache_table" {
  count = var.enable_shared_cache ? 1 : 0

  name          = "alias/${var.name}-token-cache-table"
  target_key_id = aws_kms_key.cache_table[0].key_id
}

data "aws_iam_policy_document" "cache_table_key_policy" {
  count = var.enable_shared_cache ? 1 : 0

  statement {
    sid       = "KeyAdministration"
    effect    = "Allow"
    actions   = local.key_admin_actions
    resources = [aws_kms_key.cache_table[0].arn]

    principals {
      type        = "AWS"
      identifiers = local.key_admin_arns
    }
  }

  # What DynamoDB needs from the principals that use a table encrypted with a
  # customer managed key, only when the call comes through DynamoDB.
  statement {
    sid    = "LambdaViaDynamoDB"
    effect = "Allow"
    actions = [
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = [aws_kms_key.cache_table[0].arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.lambda.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.dynamodb_service]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DynamoDBDescribesTheKey"
    effect    = "Allow"
    actions   = ["kms:DescribeKey"]
    resources = [aws_kms_key.cache_table[0].arn]

    principals {
      type        = "Service"
      identifiers = ["dynamodb.amazonaws.com"]
    }
  }
}

resource "aws_kms_key_policy" "cache_table" {
  count = var.enable_shared_cache ? 1 : 0

  key_id = aws_kms_key.cache_table[0].id
  policy = data.aws_iam_policy_document.cache_table_key_policy[0].json
}

resource "aws_dynamodb_table" "token_cache" {
  count = var.enable_shared_cache ? 1 : 0

  name                        = "${var.name}-token-cache"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = true

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

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.cache_table[0].arn
  }

  tags = var.tags

  depends_on = [aws_kms_key_policy.cache_table]
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
    resources = [aws_kms_key.cache_token[0].arn]

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
