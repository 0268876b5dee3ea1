variable "name" {
  description = "Name prefix for every resource (secret, KMS aliases, IAM role, Lambda function, log group)."
  type        = string
  default     = "sfjwt"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters of letters, digits, '-' or '_'."
  }
}

variable "secret_name" {
  description = "Name of the Secrets Manager secret that will hold the PEM private key. Defaults to \"<name>/salesforce-jwt-key\". The secret is created EMPTY: put the key with `sfjwt keygen --store aws-sm:<secret arn>`."
  type        = string
  default     = null

  validation {
    condition     = var.secret_name == null || can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.secret_name))
    error_message = "secret_name may only contain letters, digits and /_+=.@- (1-512 characters)."
  }
}

variable "secret_recovery_window_in_days" {
  description = "Days Secrets Manager keeps a deleted secret recoverable (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30
    error_message = "secret_recovery_window_in_days must be between 7 and 30."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period (7-30 days) before a KMS key scheduled for deletion is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "key_admin_arns" {
  description = "IAM principal ARNs that administer the KMS keys: no usage is granted to them, but an administrator can rewrite a key policy (kms:PutKeyPolicy) and so grant itself usage, so treat them as trusted with the keys. Empty = the account root, i.e. administration is delegated to IAM policies in this account. Must include (or, through the root, let IAM allow) the identity that runs Terraform."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.key_admin_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:", a))])
    error_message = "key_admin_arns must be IAM principal ARNs (arn:aws:iam::<account>:...)."
  }
}

variable "operator_arns" {
  description = "IAM role or user ARNs of the operators who run `sfjwt keygen --store aws-sm:...` (or `sfjwt cert --key aws-kms:...` in KMS mode). The key policies let them use the secret's key through Secrets Manager only (or sign with RS256 and read the public key); attach the `operator_policy_json` output to them for the IAM side. Not the account root: that would let every IAM identity of the account that is allowed KMS use the key."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.operator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$", a))])
    error_message = "operator_arns must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name> or :user/<name>); the account root and wildcards are refused."
  }
}

variable "enable_kms_signing" {
  description = "Keyless mode: create an asymmetric KMS signing key and point the Lambda at `aws-kms:<key arn>`. When true, no Secrets Manager secret (nor its KMS key) is created and the role gets no Secrets Manager permission at all."
  type        = bool
  default     = false
}

variable "enable_shared_cache" {
  description = "Fleet-wide token cache: create a DynamoDB table (TTL, PITR, encrypted at rest with the AWS managed key) and a KMS key that encrypts the cached tokens, grant the Lambda role GetItem/UpdateItem on that table and kms:Encrypt/Decrypt with the sfjwt:cache encryption context, and set SFJWT_TOKEN_CACHE. Concurrent instances then share one Salesforce session instead of one login each."
  type        = bool
  default     = false
}

variable "token_cache_deletion_protection" {
  description = "DynamoDB deletion protection of the token cache table. Set false before `terraform destroy` (the table only holds cached tokens)."
  type        = bool
  default     = true
}

variable "rotation_fallback" {
  description = "Set SFJWT_ROTATION_FALLBACK=1 on the Lambda: on `invalid assertion`, retry once with the AWSPREVIOUS key (for the minutes after `sfjwt keygen --force` while Salesforce still expects the old certificate). The role may read AWSPREVIOUS either way."
  type        = bool
  default     = false
}

variable "signing_key_spec" {
  description = "Key spec of the asymmetric KMS signing key (only used when enable_kms_signing = true)."
  type        = string
  default     = "RSA_2048"

  validation {
    condition     = contains(["RSA_2048", "RSA_3072", "RSA_4096"], var.signing_key_spec)
    error_message = "signing_key_spec must be RSA_2048, RSA_3072 or RSA_4096 (Salesforce verifies RS256)."
  }
}

variable "function_name" {
  description = "Lambda function name. Defaults to \"<name>-token\"."
  type        = string
  default     = null

  validation {
    condition     = var.function_name == null || can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 characters of letters, digits, '-' or '_'."
  }
}

variable "lambda_package_file" {
  description = "Path to the pre-built Lambda zip: the handler (examples/lambda/handler.py) plus sfjwt-vault[aws] and its dependencies, unless those come from lambda_layers. The module zips nothing itself (no archive provider)."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.lambda_package_file))
    error_message = "lambda_package_file must be the path of a .zip file."
  }
}

variable "lambda_layers" {
  description = "Lambda layer ARNs (for example one carrying sfjwt-vault[aws] and its dependencies)."
  type        = list(string)
  default     = []
}

variable "lambda_handler" {
  description = "Lambda handler entry point."
  type        = string
  default     = "handler.handler"
}

variable "lambda_runtime" {
  description = "Lambda runtime."
  type        = string
  default     = "python3.12"

  validation {
    condition     = can(regex("^python3\\.(1[2-9])$", var.lambda_runtime))
    error_message = "lambda_runtime must be python3.12 or newer."
  }
}

variable "lambda_timeout" {
  description = "Lambda timeout in seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.lambda_timeout >= 3 && var.lambda_timeout <= 900
    error_message = "lambda_timeout must be between 3 and 900 seconds."
  }
}

variable "lambda_memory_size" {
  description = "Lambda memory in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240
    error_message = "lambda_memory_size must be between 128 and 10240 MB."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the Lambda (caps how many tokens can be minted in parallel). Accounts whose concurrency quota is still 10 cannot reserve any: set -1 (unreserved) there."
  type        = number
  default     = 5

  validation {
    condition     = var.reserved_concurrent_executions >= -1
    error_message = "reserved_concurrent_executions must be -1 (unreserved) or a non-negative number."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the Lambda's CloudWatch log group, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "sf_consumer_key" {
  description = "Salesforce connected app consumer key (JWT `iss`). Exposed to the Lambda as SF_CONSUMER_KEY."
  type        = string

  validation {
    condition     = length(var.sf_consumer_key) > 0
    error_message = "sf_consumer_key must not be empty."
  }
}

variable "sf_username" {
  description = "Salesforce username the token is issued for (JWT `sub`). Exposed as SF_USERNAME."
  type        = string

  validation {
    condition     = length(var.sf_username) > 0
    error_message = "sf_username must not be empty."
  }
}

variable "sf_audience" {
  description = "JWT `aud`: https://login.salesforce.com, https://test.salesforce.com or a My Domain / Experience Cloud URL. Exposed as SF_AUDIENCE."
  type        = string
  default     = "https://login.salesforce.com"

  validation {
    condition     = can(regex("^https://", var.sf_audience))
    error_message = "sf_audience must be an https:// URL."
  }
}

variable "sf_token_url" {
  description = "OAuth token endpoint. Defaults to \"<sf_audience>/services/oauth2/token\". Exposed as SF_TOKEN_URL."
  type        = string
  default     = null

  validation {
    condition     = var.sf_token_url == null || can(regex("^https://", var.sf_token_url))
    error_message = "sf_token_url must be an https:// URL."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}
