#!/usr/bin/env bash
# Checks of terraform/ (called from .ci/run; run it the same way locally):
#   1. terraform fmt -check -recursive
#   2. terraform init from a local provider mirror (found by provider-mirror.sh)
#      and terraform validate of modules/aws and examples/aws, in a scratch copy
#   3. checkov (own virtualenv: it pins an old boto3) -> no failed check; the
#      only tolerated exceptions are inline `#checkov:skip=ID:reason`
#   4. pytest terraform/tests: examples/aws planned, applied and destroyed
#      against moto in its three modes, the documented next steps run with the
#      permissions the module grants (moto enforcing IAM), and the Vault
#      module's preconditions evaluated by Terraform.
# Nothing is skipped: without terraform (>= 1.5) or a local mirror of the
# hashicorp/aws provider the script fails, saying which is missing. The Vault
# provider is not mirrored: the Vault module is checked by tests/test_terraform.py
# (python-hcl2) and step 4's precondition test, not validated or planned.
#
# Environment:
#   TERRAFORM           terraform binary (default: `terraform` on PATH)
#   SFJWT_TF_PLUGIN_DIR provider mirror (default: found, see provider-mirror.sh)
#   SFJWT_PYTHON        the project's interpreter, with the dev extra installed
#                       (default: .venv/bin/python, which .ci/run creates)
#   SFJWT_CHECKOV_VENV  venv for checkov ($HOME/.cache/sfjwt-checkov)
#   PYTHON              interpreter used to create the checkov venv (python3)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cd "$root"

python=${PYTHON:-python3}
project_python=${SFJWT_PYTHON:-$root/.venv/bin/python}
checkov_venv=${SFJWT_CHECKOV_VENV:-$HOME/.cache/sfjwt-checkov}

export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
# A TF_CLI_CONFIG_FILE pointing at a missing file only adds warnings.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -f "$TF_CLI_CONFIG_FILE" ]]; then
    unset TF_CLI_CONFIG_FILE
fi

log() { printf '== %s\n' "$*" >&2; }
fail() {
    log "FAIL: $*"
    exit 1
}
started=$SECONDS
step_started=$SECONDS
took() { # took <step>: log how long the step took
    log "$1: $((SECONDS - step_started)) s"
    step_started=$SECONDS
}

# --- 0. what the checks need ---------------------------------------------------
tf=${TERRAFORM:-$(command -v terraform || true)}
[[ -n "$tf" && -x "$tf" ]] || fail "terraform (>= 1.5) is not on PATH nor set in \$TERRAFORM"
version=$("$tf" version | sed -n 's/^Terraform v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
read -r major minor <<<"$version"
((major > 1 || (major == 1 && minor >= 5))) || fail "Terraform >= 1.5 is needed, found $("$tf" version | head -n1)"
plugin_dir=$("$here/provider-mirror.sh" "$tf") || fail "no local provider mirror (see the message above)"
[[ -x "$project_python" ]] ||
    fail "no project interpreter at $project_python: run python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' (or set SFJWT_PYTHON)"
export TERRAFORM=$tf SFJWT_TF_PLUGIN_DIR=$plugin_dir
log "$("$tf" version | head -n1), provider mirror $plugin_dir"

# --- 1. terraform fmt ----------------------------------------------------------
if ! "$tf" fmt -check -recursive -diff terraform/; then
    fail "run '$tf fmt -recursive terraform/'"
fi
took "terraform fmt"

# --- 2. init from the mirror, validate ------------------------------------------
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r terraform "$scratch/"
rm -rf "$scratch/terraform/tests"
validate() { # validate <dir>: init from the mirror, then validate (output in <dir>/check.log)
    cd "$scratch/terraform/$1" &&
        "$tf" init -backend=false -input=false -no-color -plugin-dir="$plugin_dir" >check.log 2>&1 &&
        "$tf" validate -no-color >>check.log 2>&1
}
dirs=(modules/aws examples/aws)
pids=()
for dir in "${dirs[@]}"; do
    validate "$dir" &
    pids+=($!)
done
for i in "${!dirs[@]}"; do
    if ! wait "${pids[$i]}"; then
        cat "$scratch/terraform/${dirs[$i]}/check.log" >&2
        fail "terraform init + validate of terraform/${dirs[$i]}"
    fi
    log "terraform/${dirs[$i]}: $(tail -n 2 "$scratch/terraform/${dirs[$i]}/check.log" | tr -s '\n' ' ')"
done
took "terraform init + validate"

# --- 3. checkov -----------------------------------------------------------------
if [[ ! -x "$checkov_venv/bin/checkov" ]]; then
    log "installing checkov into $checkov_venv"
    "$python" -m venv "$checkov_venv"
    "$checkov_venv/bin/python" -m pip install --quiet --disable-pip-version-check checkov
fi
log "checkov $("$checkov_venv/bin/checkov" --version)"
# Non-zero exit on any failed check. Skips are only honoured when written
# inline with a reason (`#checkov:skip=CKV_X:reason`); no --skip-check here.
BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE "$checkov_venv/bin/checkov" -d terraform \
    --framework terraform --skip-download --quiet --compact
# Every inline skip must carry a reason.
if grep -rnE '#checkov:skip=[A-Z0-9_]+[[:space:]]*(:[[:space:]]*)?$' terraform/ --include='*.tf'; then
    fail "checkov skip without a written reason"
fi
took "checkov"

# --- 4. plan, apply, next steps, destroy against moto ------------------------------
"$project_python" -m pytest terraform/tests -q -p no:cacheprovider ||
    fail "pytest terraform/tests (plan/apply/destroy against moto, Vault preconditions)"
took "pytest terraform/tests"

log "terraform checks OK in $((SECONDS - started)) s"
