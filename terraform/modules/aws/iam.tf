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

# aws-sm backend: GetSecretValue on exactly one secret (current version, or the
# previous one for the rotation retry), and kms:Decrypt on its key only when
# Secrets Manager makes the call.
data "aws_iam_policy_document" "read_secret" {
  count = local.use_secret ? 1 : 0

  statement {
    sid       = "ReadTheOneSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.this[0].arn]

    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "secretsmanager:VersionStage"
      values   = ["AWSCURRENT", "AWSPREVIOUS"]
    }
  }

  statement {
    sid       = "DecryptViaSecretsManager"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secret[0].arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.secrets_manager_service]
    }
  }
}

resource "aws_iam_role_policy" "read_secret" {
  count = local.use_secret ? 1 : 0

  name   = "read-secret"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.read_secret[0].json
}

# aws-kms backend: Sign (RS256) and GetPublicKey on the one signing key.
data "aws_iam_policy_document" "sign" {
  count = var.enable_kms_signing ? 1 : 0

  statement {
    sid       = "SignRS256"
    effect    = "Allow"
    actions   = ["kms:Sign"]
    resources = [aws_kms_key.signing[0].arn]

    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = ["RSASSA_PKCS1_V1_5_SHA_256"]
    }
  }

  statement {
    sid       = "GetPublicKey"
    effect    = "Allow"
    actions   = ["kms:GetPublicKey"]
    resources = [aws_kms_key.signing[0].arn]
  }
}

resource "aws_iam_role_policy" "sign" {
  count = var.enable_kms_signing ? 1 : 0

  name   = "kms-sign"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.sign[0].json
}

# Operator permissions for `sfjwt keygen --store aws-sm:...` (or reading the
# public key in KMS mode). NOT attached to anything here: attach the
# `operator_policy_json` output to the operators' role or group.
data "aws_iam_policy_document" "operator" {
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
      resources = [aws_kms_key.secret[0].arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.secrets_manager_service]
      }
    }
  }

  dynamic "statement" {
    for_each = var.enable_kms_signing ? [1] : []

    content {
      sid       = "ReadSigningPublicKey"
      effect    = "Allow"
      actions   = ["kms:DescribeKey", "kms:GetPublicKey"]
      resources = [aws_kms_key.signing[0].arn]
    }
  }
}
