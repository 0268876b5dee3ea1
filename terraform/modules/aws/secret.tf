# Secrets Manager mode (default): an EMPTY secret, encrypted with its own
# customer managed key that may be used only through Secrets Manager and only
# for this secret.

# Who may use the secret's key, and how (the administration statement comes
# from the kms-key module).
data "aws_iam_policy_document" "secret_key_usage" {
  count = local.use_secret ? 1 : 0

  statement {
    sid       = "LambdaDecryptViaSecretsManager"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [module.secret_key[0].arn]

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
      resources = [module.secret_key[0].arn]

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

module "secret_key" {
  source = "./modules/kms-key"
  count  = local.use_secret ? 1 : 0

  alias                   = "${var.name}-secret"
  description             = "${var.name}: encrypts the Salesforce JWT private key secret"
  deletion_window_in_days = var.kms_deletion_window_in_days
  admin_arns              = local.key_admin_arns
  usage_policy_json       = data.aws_iam_policy_document.secret_key_usage[0].json
  tags                    = var.tags
}

# The secret is created EMPTY on purpose: there is no
# aws_secretsmanager_secret_version, so the private key never lands in the
# Terraform state. Store it with: sfjwt keygen --store aws-sm:<secret arn>
resource "aws_secretsmanager_secret" "this" {
  count = local.use_secret ? 1 : 0
  #checkov:skip=CKV2_AWS_57:The key is rotated by an operator with `sfjwt keygen` because the new certificate must be uploaded to the Salesforce connected app; a Secrets Manager rotation Lambda cannot do that.

  name                    = local.secret_name
  description             = "${var.name}: PEM private key for the Salesforce OAuth 2.0 JWT bearer flow (written by sfjwt keygen)"
  kms_key_id              = module.secret_key[0].arn
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = var.tags
}
