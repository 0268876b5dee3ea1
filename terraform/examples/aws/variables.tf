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
  description = "IAM principals that run `sfjwt keygen --store aws-sm:...`."
  type        = list(string)
  default     = []
}

variable "lambda_package_file" {
  description = "Pre-built Lambda zip with sfjwt-vault bundled (null = zip examples/lambda and rely on lambda_layers)."
  type        = string
  default     = null
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
