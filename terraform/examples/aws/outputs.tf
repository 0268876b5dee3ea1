output "sfjwt_key" {
  description = "SFJWT_KEY the Lambda uses."
  value       = module.sfjwt.sfjwt_key
}

output "operator_command" {
  description = "What an operator runs once after apply: `sfjwt keygen --store aws-sm:...` (Secrets Manager mode) or `sfjwt cert --key aws-kms:...` (KMS mode); then upload the certificate to the connected app."
  value       = module.sfjwt.operator_command
}

output "function_name" {
  description = "Lambda function name."
  value       = module.sfjwt.function_name
}

output "lambda_role_arn" {
  description = "Lambda execution role ARN."
  value       = module.sfjwt.lambda_role_arn
}

output "operator_policy_json" {
  description = "Policy to attach to the operators."
  value       = module.sfjwt.operator_policy_json
}

output "token_cache" {
  description = "SFJWT_TOKEN_CACHE of the Lambda (`local` unless enable_shared_cache)."
  value       = module.sfjwt.token_cache
}
