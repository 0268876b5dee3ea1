terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0"
    }
  }
}

provider "aws" {
  region = var.region
}

module "sfjwt" {
  source = "../../modules/aws"

  name                = var.name
  enable_kms_signing  = var.enable_kms_signing
  enable_shared_cache = var.enable_shared_cache
  operator_arns       = var.operator_arns
  lambda_package_file = var.lambda_package_file
  lambda_layers       = var.lambda_layers

  sf_consumer_key = var.sf_consumer_key
  sf_username     = var.sf_username
  sf_audience     = var.sf_audience

  tags = {
    project = "sfjwt-vault"
  }
}
