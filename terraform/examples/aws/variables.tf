variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name prefix for the resources."
  type        = string
  default     = "sfjwt-example"
}

variable "enable_kms_signing" {
  description = "true = keyless (aws-kms:), false = private key in Secrets Manager (aws-sm:)."
  type        = bool
  default     = false
}

variable "operator_arns" {
  description = "IAM roles or users that run `sfjwt keygen --store aws-sm:...` (or `sfjwt cert --key aws-kms:...`)."
  type        = list(string)
  default     = []
}

variable "lambda_package_file" {
  description = "Pre-built Lambda zip: examples/lambda/handler.py plus sfjwt-vault[aws] and its dependencies (or only the handler, with those in lambda_layers)."
  type        = string
}

variable "lambda_layers" {
  description = "Layer ARNs carrying sfjwt-vault[aws]."
  type        = list(string)
  default     = []
}

variable "sf_consumer_key" {
  description = "Salesforce connected app consumer key."
  type        = string
}

variable "sf_username" {
  description = "Salesforce username."
  type        = string
}

variable "sf_audience" {
  description = "Salesforce login URL used as JWT audience."
  type        = string
  default     = "https://login.salesforce.com"
}

variable "enable_shared_cache" {
  description = "Share one Salesforce session across all instances through the module's token cache (SFJWT_TOKEN_CACHE)."
  type        = bool
  default     = false
}

variable "token_cache_deletion_protection" {
  description = "Deletion protection of the token cache table (set false before destroying)."
  type        = bool
  default     = true
}

variable "rotation_fallback" {
  description = "SFJWT_ROTATION_FALLBACK=1 on the Lambda (retry once with AWSPREVIOUS during a key rotation)."
  type        = bool
  default     = false
}
