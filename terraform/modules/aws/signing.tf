# Keyless mode: an asymmetric KMS key signs the JWT; the private key never
# leaves KMS. The Lambda role may only Sign (RS256) and read the public key.
resource "aws_kms_key" "signing" {
  count = var.enable_kms_signing ? 1 : 0

  description              = "${var.name}: signs Salesforce JWT bearer assertions (RS256)"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = var.signing_key_spec
  # Automatic rotation is not supported for asymmetric keys; rotate by creating
  # a new key and uploading its certificate to the connected app.
  enable_key_rotation     = false
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = var.tags
}

resource "aws_kms_alias" "signing" {
  count = var.enable_kms_signing ? 1 : 0

  name          = "alias/${var.name}-signing"
  target_key_id = aws_kms_key.signing[0].key_id
}

data "aws_iam_policy_document" "signing_key_policy" {
  count = var.enable_kms_signing ? 1 : 0

  statement {
    sid       = "KeyAdministration"
    effect    = "Allow"
    actions   = local.key_admin_actions
    resources = [aws_kms_key.signing[0].arn]

    principals {
      type        = "AWS"
      identifiers = local.key_admin_arns
    }
  }

  statement {
    sid       = "LambdaSignRS256"
    effect    = "Allow"
    actions   = ["kms:Sign"]
    resources = [aws_kms_key.signing[0].arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.lambda.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = ["RSASSA_PKCS1_V1_5_SHA_256"]
    }
  }

  statement {
    sid       = "LambdaGetPublicKey"
    effect    = "Allow"
    actions   = ["kms:GetPublicKey"]
    resources = [aws_kms_key.signing[0].arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.lambda.arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.operator_arns) > 0 ? [1] : []

    content {
      sid       = "OperatorsReadPublicKey"
      effect    = "Allow"
      actions   = ["kms:DescribeKey", "kms:GetPublicKey"]
      resources = [aws_kms_key.signing[0].arn]

      principals {
        type        = "AWS"
        identifiers = var.operator_arns
      }
    }
  }
}

resource "aws_kms_key_policy" "signing" {
  count = var.enable_kms_signing ? 1 : 0

  key_id = aws_kms_key.signing[0].id
  policy = data.aws_iam_policy_document.signing_key_policy[0].json
}
