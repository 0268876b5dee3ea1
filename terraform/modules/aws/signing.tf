# Keyless mode (enable_kms_signing): an asymmetric KMS key signs the JWT; the
# private key never leaves KMS. The Lambda role, and the operators (for
# `sfjwt cert --key aws-kms:...`), may only Sign with RS256 and read the
# public key: the two calls the aws-kms plugin makes.
data "aws_iam_policy_document" "signing_key_usage" {
  count = var.enable_kms_signing ? 1 : 0

  statement {
    sid       = "SignRS256"
    effect    = "Allow"
    actions   = ["kms:Sign"]
    resources = [module.signing_key[0].arn]

    principals {
      type        = "AWS"
      identifiers = concat([aws_iam_role.lambda.arn], var.operator_arns)
    }

    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = [local.signing_algorithm]
    }
  }

  statement {
    sid       = "GetPublicKey"
    effect    = "Allow"
    actions   = ["kms:GetPublicKey"]
    resources = [module.signing_key[0].arn]

    principals {
      type        = "AWS"
      identifiers = concat([aws_iam_role.lambda.arn], var.operator_arns)
    }
  }
}

module "signing_key" {
  source = "./modules/kms-key"
  count  = var.enable_kms_signing ? 1 : 0

  alias                   = "${var.name}-signing"
  description             = "${var.name}: signs Salesforce JWT bearer assertions (RS256)"
  key_spec                = var.signing_key_spec
  deletion_window_in_days = var.kms_deletion_window_in_days
  admin_arns              = local.key_admin_arns
  usage_policy_json       = data.aws_iam_policy_document.signing_key_usage[0].json
  tags                    = var.tags
}
