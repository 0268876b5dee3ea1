output "sfjwt_key" {
  description = "SFJWT_KEY the Lambda uses."
  value       = module.sfjwt.sfjwt_key
}

output "keygen_command" {
  description = "Command an operator runs once to create the key and store it (Secrets Manager mode)."
  value       = module.sfjwt.secret_arn == null ? null : "sfjwt keygen --store aws-sm:${module.sfjwt.secret_arn}"
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
