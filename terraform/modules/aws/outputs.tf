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
  value       = local.use_secret ? module.secret_key[0].arn : null
}

output "signing_key_arn" {
  description = "ARN of the asymmetric KMS signing key; null unless enable_kms_signing."
  value       = var.enable_kms_signing ? module.signing_key[0].arn : null
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
  value       = module.logs_key.arn
}

output "operator_policy_json" {
  description = "IAM policy JSON for the operators: `sfjwt keygen --store aws-sm:<secret arn>` (DescribeSecret/PutSecretValue on the one secret, GenerateDataKey/Decrypt through Secrets Manager; no GetSecretValue) or, in KMS mode, `sfjwt cert --key aws-kms:<key arn>` (Sign with RS256, GetPublicKey). Not attached by the module."
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
  value       = var.enable_shared_cache ? module.cache_key[0].arn : null
}

output "operator_command" {
  description = "What an operator runs once after apply: `sfjwt keygen --store aws-sm:<secret arn>` (stores a new key, prints its certificate) or, in KMS mode, `sfjwt cert --key aws-kms:<key arn>` (prints the certificate of the KMS key). Upload the certificate to the connected app."
  value       = local.use_secret ? "sfjwt keygen --store ${local.sfjwt_key} --cert-out salesforce-jwt.crt" : "sfjwt cert --key ${local.sfjwt_key} --out salesforce-jwt.crt"
}
