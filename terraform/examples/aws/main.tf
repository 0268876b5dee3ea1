terraform {
  required_version = ">= 1.5.0"

  required_providers {
    # The version terraform/check.sh validates and applies. No lock file is
    # committed: one made from the CI's provider mirror would hold the
    # checksum of one platform only and break `terraform init` elsewhere. Make
    # your own with `terraform providers lock -platform=...` and commit it.
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100.0"
    }
  }
}

provider "aws" {
  region = var.region
}

module "sfjwt" {
  source = "../../modules/aws"

  name                            = var.name
  enable_kms_signing              = var.enable_kms_signing
  enable_shared_cache             = var.enable_shared_cache
  token_cache_deletion_protection = var.token_cache_deletion_protection
  rotation_fallback               = var.rotation_fallback
  operator_arns                   = var.operator_arns
  lambda_package_file             = var.lambda_package_file
  lambda_layers                   = var.lambda_layers

  sf_consumer_key = var.sf_consumer_key
  sf_username     = var.sf_username
  sf_audience     = var.sf_audience

  tags = {
    project = "sfjwt-vault"
  }
}
