variable "alias" {
  description = "Alias name without the `alias/` prefix."
  type        = string
}

variable "description" {
  description = "Key description."
  type        = string
}

variable "key_spec" {
  description = "SYMMETRIC_DEFAULT (encrypt/decrypt, rotated yearly) or an RSA spec (sign/verify, never rotated automatically: AWS does not rotate asymmetric keys)."
  type        = string
  default     = "SYMMETRIC_DEFAULT"

  validation {
    condition     = contains(["SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096"], var.key_spec)
    error_message = "key_spec must be SYMMETRIC_DEFAULT, RSA_2048, RSA_3072 or RSA_4096."
  }
}

variable "deletion_window_in_days" {
  description = "Waiting period (7-30 days) before a key scheduled for deletion is deleted."
  type        = number
}

variable "admin_arns" {
  description = "Principals that administer the key (the administrative actions of locals.tf, no usage)."
  type        = list(string)
}

variable "usage_policy_json" {
  description = "Key policy statements that allow USE of the key (an aws_iam_policy_document's json). Appended to the administration statement; statement ids must not be KeyAdministration."
  type        = string
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
  default     = {}
}
