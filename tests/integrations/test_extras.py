"""Each integration imported without its client library: a typed error that names the extra to install
(and is an ImportError, so optional imports can catch it). The library is made missing in a fresh
interpreter (a None entry in sys.modules makes its import fail, as an absent package does);
tests/packaging checks the same in an environment where it is really not installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("requests", ["requests"], "requests"),
    ("simple_salesforce", ["simple_salesforce", "simple_salesforce.api"], "simple-salesforce"),
    ("aiosalesforce", ["aiosalesforce", "aiosalesforce.auth"], "aiosalesforce"),
]

PROGRAM = """
import sys
for name in sys.argv[2:]:
    sys.modules[name] = None
from sfjwt_vault.errors import MissingIntegrationError
try:
    __import__("sfjwt_vault.integrations." + sys.argv[1])
except MissingIntegrationError as exc:
    assert isinstance(exc, ImportError) and exc.exit_code == 2
    print(exc.message)
    print(exc.hint)
"""


@pytest.mark.parametrize(("module", "missing", "extra"), CASES, ids=[c[0] for c in CASES])
def test_a_missing_client_library_names_the_extra(module: str, missing: list[str], extra: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, module, *missing], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    message, hint = done.stdout.splitlines()
    assert message.startswith(f"sfjwt_vault.integrations.{module} needs ")
    assert hint == f"pip install 'sfjwt-vault[{extra}]'"


def test_import_sfjwt_vault_imports_no_integration() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, sfjwt_vault; print(sorted(m for m in sys.modules if 'integrations' in m "
         "or m.split('.')[0] in ('requests', 'simple_salesforce', 'aiosalesforce')))"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"
