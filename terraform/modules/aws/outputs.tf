output "sfjwt_key" {
  description = "Key reference given to the Lambda as SFJWT_KEY: `aws-sm:<secret arn>` (default) or `aws-kms:<key arn>` (enable_kms_signing)."
  value       = local.sfjwt_key
}

output "secret_arn" {
  description = "ARN of the (empty) Secrets Manager secret; null in KMS signing mode. Fill it with `sfjwt keygen --store aws-sm:<this arn>`."
  value       = local.use_secret ? aws_secretsmanager_secret.this[0].arn : null
}

output "secret_name" {
  description = "Name of the Secrets Manager secret; null in KMS signing mode."
  value       = local.use_secret ? aws_secretsmanager_secret.this[0].name : null
}

output "secret_kms_key_arn" {
  description = "ARN of the customer managed KMS key encrypting the secret; null in KMS signing mode."
  value       = local.use_secret ? aws_kms_key.secret[0].arn : null
}

output "signing_key_arn" {
  description = "ARN of the asymmetric KMS signing key; null unless enable_kms_signing."
  value       = var.enable_kms_signing ? aws_kms_key.signing[0].arn : null
}

output "lambda_role_arn" {
  description = "ARN of the Lambda execution role."
  value       = aws_iam_role.lambda.arn
}

output "lambda_role_name" {
  description = "Name of the Lambda execution role."
  value       = aws_iam_role.lambda.name
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function (grant lambda:InvokeFunction on it to callers)."
  value       = aws_lambda_function.this.arn
}

output "log_group_name" {
  description = "Name of the Lambda's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "logs_kms_key_arn" {
  description = "ARN of the KMS key encrypting the log group."
  value       = aws_kms_key.logs.arn
}

output "operator_policy_json" {
  description = "IAM policy JSON for the operators who run `sfjwt keygen --store aws-sm:...` (PutSecretValue/DescribeSecret on the one secret, GenerateDataKey/Decrypt via Secrets Manager) or read the KMS public key. Not attached by the module."
  value       = data.aws_iam_policy_document.operator.json
}

output "token_cache" {
  description = "SFJWT_TOKEN_CACHE given to the Lambda: `dynamodb:<table>?kms_key=<key arn>&region=<region>` with enable_shared_cache, else `local`."
  value       = local.token_cache
}

output "token_cache_table_arn" {
  description = "ARN of the token cache table; null unless enable_shared_cache."
  value       = var.enable_shared_cache ? aws_dynamodb_table.token_cache[0].arn : null
}

output "token_cache_kms_key_arn" {
  description = "ARN of the KMS key that encrypts cached tokens (context key sfjwt:cache); null unless enable_shared_cache."
  value       = var.enable_shared_cache ? aws_kms_key.cache_token[0].arn : null
}
