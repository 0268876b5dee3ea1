# The log group's key: only CloudWatch Logs may use it, and only for this group.
data "aws_iam_policy_document" "logs_key_usage" {
  statement {
    sid    = "CloudWatchLogsForThisLogGroup"
    effect = "Allow"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = [module.logs_key.arn]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }
}

module "logs_key" {
  source = "./modules/kms-key"

  alias                   = "${var.name}-logs"
  description             = "${var.name}: encrypts the Lambda log group ${local.log_group_name}"
  deletion_window_in_days = var.kms_deletion_window_in_days
  admin_arns              = local.key_admin_arns
  usage_policy_json       = data.aws_iam_policy_document.logs_key_usage.json
  tags                    = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_in_days variable (default 30 days as the issue asks); the function logs no secrets and compliance retention is the deployer's choice.
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = module.logs_key.arn
  tags              = var.tags

  # The key policy must allow CloudWatch Logs before the key is associated.
  depends_on = [module.logs_key]
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_50:X-Ray tracing needs xray:PutTraceSegments/PutTelemetryRecords on Resource "*" (X-Ray has no resource-level permissions), which would break the module's no-wildcard IAM promise.
  #checkov:skip=CKV_AWS_116:The function is invoked synchronously and returns the token to its caller; a DLQ only applies to asynchronous invocations and would need an extra sqs:SendMessage grant.
  #checkov:skip=CKV_AWS_117:It only calls Salesforce and the Secrets Manager/KMS/DynamoDB APIs; a VPC is deployment specific and its ENI management needs ec2:* permissions on Resource "*".
  #checkov:skip=CKV_AWS_173:The environment holds no secret (consumer key = JWT iss, username, URLs, a key reference); it is encrypted at rest with the AWS managed key.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signed artifact pipeline, which is outside this module.
  function_name                  = local.function_name
  description                    = "Mints Salesforce access tokens with the OAuth 2.0 JWT bearer flow (sfjwt-vault)"
  role                           = aws_iam_role.lambda.arn
  handler                        = var.lambda_handler
  runtime                        = var.lambda_runtime
  filename                       = var.lambda_package_file
  source_code_hash               = filebase64sha256(var.lambda_package_file)
  layers                         = var.lambda_layers
  timeout                        = var.lambda_timeout
  memory_size                    = var.lambda_memory_size
  reserved_concurrent_executions = var.reserved_concurrent_executions

  environment {
    variables = {
      SF_CONSUMER_KEY         = var.sf_consumer_key
      SF_USERNAME             = var.sf_username
      SF_AUDIENCE             = var.sf_audience
      SF_TOKEN_URL            = local.token_url
      SFJWT_KEY               = local.sfjwt_key
      SFJWT_PLUGINS           = "aws"
      SFJWT_TOKEN_CACHE       = local.token_cache
      SFJWT_ROTATION_FALLBACK = var.rotation_fallback ? "1" : "0"
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = var.tags

  depends_on = [
    aws_iam_role_policy.logs,
    aws_iam_role_policy.read_secret,
    aws_iam_role_policy.sign,
    aws_iam_role_policy.shared_cache,
  ]
}
