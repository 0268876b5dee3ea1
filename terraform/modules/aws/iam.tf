# Execution role of the Lambda. Trusts only the Lambda service; every
# permission below names one resource of this module.
data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name                 = "${var.name}-lambda"
  description          = "${var.name}: Salesforce JWT bearer token Lambda (least privilege)"
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  max_session_duration = 3600
  tags                 = var.tags
}

# CloudWatch Logs: write streams of its own log group only (the group itself is
# created by Terraform, so no logs:CreateLogGroup).
data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "WriteOwnLogGroup"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.logs.json
}

# aws-sm backend: GetSecretValue on exactly one secret (the current version, or
# the previous one for the rotation fallback; the plugin always names the
# stage), and kms:Decrypt on its key only when Secrets Manager makes the call.
data "aws_iam_policy_document" "read_secret" {
  count = local.use_secret ? 1 : 0

  statement {
    sid       = "ReadTheOneSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.this[0].arn]

    # VersionStage is single-valued: StringEquals, not ForAnyValue.
    condition {
      test     = "StringEquals"
      variable = "secretsmanager:VersionStage"
      values   = ["AWSCURRENT", "AWSPREVIOUS"]
    }
  }

  statement {
    sid       = "DecryptViaSecretsManager"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [module.secret_key[0].arn]

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

resource "aws_iam_role_policy" "read_secret" {
  count = local.use_secret ? 1 : 0

  name   = "read-secret"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.read_secret[0].json
}

# aws-kms backend: Sign (RS256 only) and GetPublicKey on the one signing key.
# Operators get the same document (for `sfjwt cert --key aws-kms:...`).
data "aws_iam_policy_document" "sign" {
  count = var.enable_kms_signing ? 1 : 0

  statement {
    sid       = "SignRS256"
    effect    = "Allow"
    actions   = ["kms:Sign"]
    resources = [module.signing_key[0].arn]

    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = [local.signing_algorithm]
    }
  }

  statement {
    sid       = "GetPublicKey"
    effect    = "Allow"
    actions   = ["kms:GetPublicKey"]
    resources = [module.signing_key[0].arn]
  }
}

resource "aws_iam_role_policy" "sign" {
  count = var.enable_kms_signing ? 1 : 0

  name   = "kms-sign"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.sign[0].json
}

# Operator permissions: exactly the calls of the documented next step after
# apply. Secrets Manager mode, `sfjwt keygen --store aws-sm:<secret arn>`:
# DescribeSecret, then PutSecretValue (Secrets Manager encrypts the new
# version with the secret's key on the operator's behalf). No GetSecretValue:
# operators write the key but never read it. KMS mode, `sfjwt cert --key
# aws-kms:<key arn>`: the `sign` document above. NOT attached to anything
# here: attach the `operator_policy_json` output to the operators' role or
# group.
data "aws_iam_policy_document" "operator" {
  source_policy_documents = var.enable_kms_signing ? [data.aws_iam_policy_document.sign[0].json] : []

  dynamic "statement" {
    for_each = local.use_secret ? [1] : []

    content {
      sid       = "StoreKeyInTheOneSecret"
      effect    = "Allow"
      actions   = ["secretsmanager:DescribeSecret", "secretsmanager:PutSecretValue"]
      resources = [aws_secretsmanager_secret.this[0].arn]
    }
  }

  dynamic "statement" {
    for_each = local.use_secret ? [1] : []

    content {
      sid       = "EncryptViaSecretsManager"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [module.secret_key[0].arn]

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
