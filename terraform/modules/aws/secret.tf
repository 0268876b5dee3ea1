# Customer managed key that encrypts the Secrets Manager secret. Usable only
# through Secrets Manager and only for this secret.
resource "aws_kms_key" "secret" {
  count = local.use_secret ? 1 : 0

  description             = "${var.name}: encrypts the Salesforce JWT private key secret"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = var.tags
}

resource "aws_kms_alias" "secret" {
  count = local.use_secret ? 1 : 0

  name          = "alias/${var.name}-secret"
  target_key_id = aws_kms_key.secret[0].key_id
}

data "aws_iam_policy_document" "secret_key_policy" {
  count = local.use_secret ? 1 : 0

  statement {
    sid       = "KeyAdministration"
    effect    = "Allow"
    actions   = local.key_admin_actions
    resources = [aws_kms_key.secret[0].arn]

    principals {
      type        = "AWS"
      identifiers = local.key_admin_arns
    }
  }

  statement {
    sid       = "LambdaDecryptViaSecretsManager"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secret[0].arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.lambda.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.secrets_manager_service]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:SecretARN"
      values   = [aws_secretsmanager_secret.this[0].arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.operator_arns) > 0 ? [1] : []

    content {
      sid       = "OperatorsStoreKeyViaSecretsManager"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [aws_kms_key.secret[0].arn]

      principals {
        type        = "AWS"
        identifiers = var.operator_arns
      }

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.secrets_manager_service]
      }

      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:SecretARN"
        values   = [aws_secretsmanager_secret.this[0].arn]
      }
    }
  }
}

resource "aws_kms_key_policy" "secret" {
  count = local.use_secret ? 1 : 0

  key_id = aws_kms_key.secret[0].id
  policy = data.aws_iam_policy_document.secret_key_policy[0].json
}

# The secret is created EMPTY on purpose: there is no
# aws_secretsmanager_secret_version, so the private key never lands in the
# Terraform state. Store it with: sfjwt keygen --store aws-sm:<secret arn>
resource "aws_secretsmanager_secret" "this" {
  count = local.use_secret ? 1 : 0
  #checkov:skip=CKV2_AWS_57:The key is rotated by an operator with `sfjwt keygen` because the new certificate must be uploaded to the Salesforce connected app; a Secrets Manager rotation Lambda cannot do that.

  name                    = local.secret_name
  description             = "${var.name}: PEM private key for the Salesforce OAuth 2.0 JWT bearer flow (written by sfjwt keygen)"
  kms_key_id              = aws_kms_key.secret[0].arn
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = var.tags
}
