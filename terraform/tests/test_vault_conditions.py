"""The Vault module's preconditions and variable validations, evaluated by Terraform itself.

The Vault provider is not available offline, so the module cannot be planned. Its preconditions and
validations only read variables, though: this test copies the module's variables.tf into a scratch
module, turns each precondition's condition (read from the module with python-hcl2) into an output,
and lets Terraform evaluate them for a set of inputs. No provider is needed. tests/test_terraform.py
holds the rest of the module (policies, paths, auth roles) statically.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from tf_harness import TERRAFORM_DIR, Terraform

VAULT = TERRAFORM_DIR / "modules" / "vault"

# Each precondition by a phrase of its error message.
PRECONDITIONS = {
    "binding": "jwt_bound_subject or jwt_bound_claims",
    "audience": "jwt_bound_audiences must not be empty",
    "ttl_order": "token_ttl must not exceed token_max_ttl",
    "discovery_url": "needs jwt_oidc_discovery_url",
    "key_outside_cache": "must not be cache_kv_prefix or under it",
}
GITHUB = "https://token.actions.githubusercontent.com"

# inputs -> the preconditions that must hold (True) or fail (False)
CASES: dict[str, tuple[dict[str, Any], dict[str, bool]]] = {
    "defaults": ({}, {"binding": False, "audience": False, "ttl_order": True, "key_outside_cache": True}),
    "audience_only": (
        {"jwt_bound_audiences": ["vault"], "jwt_oidc_discovery_url": GITHUB},
        {"binding": False, "audience": True, "discovery_url": True},
    ),
    "subject": (
        {"jwt_bound_audiences": ["vault"], "jwt_bound_subject": "repo:acme/payments:ref:refs/heads/main"},
        {"binding": True, "audience": True, "discovery_url": False},
    ),
    "claims": ({"jwt_bound_claims": {"repository": "acme/payments"}}, {"binding": True}),
    "ttl_inverted": ({"token_ttl": 900, "token_max_ttl": 300}, {"ttl_order": False}),
    "key_under_cache": (
        {"enable_shared_cache": True, "kv_secret_path": "sfjwt-token-cache/jwt-key"},
        {"key_outside_cache": False},
    ),
    "key_is_the_prefix": (
        {"enable_shared_cache": True, "kv_secret_path": "sfjwt-token-cache"},
        {"key_outside_cache": False},
    ),
    "key_beside_cache": (
        {"enable_shared_cache": True, "cache_kv_prefix": "sf/cache", "kv_secret_path": "sf/cache-key"},
        {"key_outside_cache": True},
    ),
    "transit_only": (
        {"enable_kv": False, "enable_shared_cache": True, "kv_secret_path": "sfjwt-token-cache/x"},
        {"key_outside_cache": True},
    ),
}

# inputs a variable validation must refuse, and a phrase of its message
REFUSED = {
    "secret_id_never_expires": ({"approle_secret_id_ttl": 0}, "0, never expiring, is refused"),
    "empty_subject": ({"jwt_bound_subject": " "}, "jwt_bound_subject must be null or a non-empty subject"),
    "empty_claim": ({"jwt_bound_claims": {"repository": ""}}, "jwt_bound_claims values must not be empty"),
    "token_ttl_over_a_day": ({"token_max_ttl": 90000}, "token_max_ttl must be between 1 and 86400"),
}


def preconditions() -> dict[str, str]:
    """name -> condition expression, for every precondition of the module."""
    found: dict[str, str] = {}
    for path in sorted(VAULT.glob("*.tf")):
        for block in hcl2.loads(path.read_text()).get("resource", []):
            for named in block.values():
                for body in named.values():
                    for lifecycle in body.get("lifecycle", []):
                        for precondition in lifecycle.get("precondition", []):
                            message = precondition["error_message"]
                            (name,) = [n for n, phrase in PRECONDITIONS.items() if phrase in message]
                            condition = re.fullmatch(r"\$\{(.*)\}", precondition["condition"], re.S)
                            assert condition, precondition["condition"]
                            assert re.findall(r"\b(local|module|data|vault_\w+)\.", condition.group(1)) == [], (
                                f"{name} reads more than variables: this test cannot evaluate it"
                            )
                            # Two roles carry the TTL precondition: they must agree.
                            assert found.setdefault(name, condition.group(1)) == condition.group(1), name
    assert set(found) == set(PRECONDITIONS), f"preconditions found: {sorted(found)}"
    return found


def scratch(root: Path, cases: dict[str, dict[str, Any]], outputs: dict[str, str]) -> Path:
    """A root module calling a copy of the Vault module's variables (plus `outputs`) once per case."""
    (root / "conditions").mkdir(parents=True)
    (root / "conditions" / "variables.tf").write_text((VAULT / "variables.tf").read_text())
    (root / "conditions" / "outputs.tf").write_text(
        "".join(f'output "{name}" {{\n  value = {expr}\n}}\n\n' for name, expr in outputs.items())
    )
    calls = {case: {"source": "./conditions", **inputs} for case, inputs in cases.items()}
    (root / "main.tf.json").write_text(
        json.dumps({"module": calls, "output": {case: {"value": f"${{module.{case}}}"} for case in cases}})
    )
    return root


def test_preconditions_hold_exactly_when_they_should(terraform: Terraform, tmp_path: Path) -> None:
    root = scratch(tmp_path, {case: inputs for case, (inputs, _) in CASES.items()}, preconditions())
    terraform.run(root, "init")
    terraform.run(root, "apply", "-auto-approve")
    results = json.loads(terraform.run(root, "output", "-json").stdout)
    for case, (_, expected) in CASES.items():
        got = {name: results[case]["value"][name] for name in expected}
        assert got == expected, case


@pytest.mark.parametrize("case", list(REFUSED))
def test_validations_refuse(terraform: Terraform, tmp_path: Path, case: str) -> None:
    inputs, message = REFUSED[case]
    root = scratch(tmp_path, {"refused": inputs}, {})
    terraform.run(root, "init")
    result = terraform.run(root, "plan", check=False)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.replace("│", " ").split()), result.stderr
