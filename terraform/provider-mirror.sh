#!/usr/bin/env bash
# Print the directory of a local Terraform provider mirror that holds the
# hashicorp/aws provider for this machine's platform: the folder containing
# registry.terraform.io/, for `terraform init -plugin-dir=<it>`. Exit 1 with a
# message when there is none. Found at run time, in this order:
#   1. $SFJWT_TF_PLUGIN_DIR (must hold the provider, else it is an error);
#   2. Terraform's implied local mirror directories (~/.terraform.d/plugins,
#      $XDG_DATA_HOME/terraform/plugins, <each of $XDG_DATA_DIRS>/terraform/plugins);
#   3. any registry.terraform.io folder at most 5 levels below / (a machine
#      image may carry a mirror anywhere; /proc, /sys and /dev are skipped).
# Usage: provider-mirror.sh [terraform binary]
set -euo pipefail

tf=${1:-${TERRAFORM:-terraform}}
platform=$("$tf" version -json 2>/dev/null | sed -n 's/.*"platform": *"\([^"]*\)".*/\1/p')
if [[ -z "$platform" ]]; then
    echo "provider-mirror.sh: could not read the platform from '$tf version -json'" >&2
    exit 1
fi

holds_aws() { # holds_aws <dir containing registry.terraform.io>
    compgen -G "$1/registry.terraform.io/hashicorp/aws/*/$platform/terraform-provider-aws_*" >/dev/null
}

if [[ -n "${SFJWT_TF_PLUGIN_DIR:-}" ]]; then
    if holds_aws "$SFJWT_TF_PLUGIN_DIR"; then
        echo "$SFJWT_TF_PLUGIN_DIR"
        exit 0
    fi
    echo "provider-mirror.sh: SFJWT_TF_PLUGIN_DIR=$SFJWT_TF_PLUGIN_DIR holds no registry.terraform.io/hashicorp/aws/<version>/$platform provider" >&2
    exit 1
fi

candidates=("$HOME/.terraform.d/plugins" "${XDG_DATA_HOME:-$HOME/.local/share}/terraform/plugins")
IFS=: read -r -a data_dirs <<<"${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
for dir in "${data_dirs[@]}"; do
    candidates+=("$dir/terraform/plugins")
done
for dir in "${candidates[@]}"; do
    if holds_aws "$dir"; then
        echo "$dir"
        exit 0
    fi
done

while IFS= read -r registry; do
    if holds_aws "$(dirname "$registry")"; then
        dirname "$registry"
        exit 0
    fi
done < <(find / -maxdepth 5 \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
    -type d -name registry.terraform.io -print 2>/dev/null | sort)

echo "provider-mirror.sh: no local mirror of the hashicorp/aws provider for $platform" \
    "(a folder holding registry.terraform.io/hashicorp/aws/<version>/$platform/terraform-provider-aws_*)." \
    "Set SFJWT_TF_PLUGIN_DIR to one; 'terraform providers mirror <dir>' makes one where the registry is reachable." >&2
exit 1
