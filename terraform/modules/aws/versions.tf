terraform {
  required_version = ">= 1.5.0"

  required_providers {
    # Checked (validate, plan, apply) against 5.100 only; widen the upper bound
    # once terraform/check.sh passes with a newer major version.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 6.0.0"
    }
  }
}
