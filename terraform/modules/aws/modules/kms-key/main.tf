# One customer managed KMS key with its alias and key policy. The key policy
# is the administration statement below plus the caller's usage statements,
# so every key of the parent module is administered the same way and every
# usage grant is written (and tested) where the key is used.

locals {
  symmetric = var.key_spec == "SYMMETRIC_DEFAULT"

  # Administration only: no Encrypt/Decrypt/Sign/CreateGrant, no wildcard.
  # Administrators cannot use the key directly, but kms:PutKeyPolicy lets them
  # grant themselves use: whoever administers the key is trusted with it.
  admin_actions = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]
}

resource "aws_kms_key" "this" {
  description              = var.description
  key_usage                = local.symmetric ? "ENCRYPT_DECRYPT" : "SIGN_VERIFY"
  customer_master_key_spec = var.key_spec
  # Asymmetric keys cannot rotate automatically: rotate by creating a new key
  # and uploading its certificate to the connected app.
  enable_key_rotation     = local.symmetric
  deletion_window_in_days = var.deletion_window_in_days
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "administration" {
  statement {
    sid       = "KeyAdministration"
    effect    = "Allow"
    actions   = local.admin_actions
    resources = [aws_kms_key.this.arn]

    principals {
      type        = "AWS"
      identifiers = var.admin_arns
    }
  }
}

data "aws_iam_policy_document" "key_policy" {
  source_policy_documents = [
    data.aws_iam_policy_document.administration.json,
    var.usage_policy_json,
  ]
}

resource "aws_kms_key_policy" "this" {
  key_id = aws_kms_key.this.id
  policy = data.aws_iam_policy_document.key_policy.json
}
