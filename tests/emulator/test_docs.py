"""docs/emulator.md matches the code: every option, hook, fault and served object is described."""

from __future__ import annotations

import inspect
from pathlib import Path

from sfjwt_vault.testing import SalesforceEmulator
from sfjwt_vault.testing.cli import build_parser
from sfjwt_vault.testing.faults import FAULTS
from sfjwt_vault.testing.sobjects import TYPES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "emulator.md").read_text()


def test_every_cli_option_is_documented() -> None:
    options = [o for action in build_parser()._actions for o in action.option_strings if o.startswith("--")]
    assert len(options) > 10
    missing = [o for o in options if o != "--help" and f"`{o}" not in DOC]
    assert not missing


def test_every_public_hook_and_counter_is_documented() -> None:
    emulator = SalesforceEmulator()
    public = {name for name, _ in inspect.getmembers(SalesforceEmulator) if not name.startswith("_")}
    public |= {name for name in vars(emulator) if not name.startswith("_")}
    lifecycle = {"start", "stop", "handle", "now", "base_url", "token_url", "identity_url", "exposure_warning"}
    settings = {"sandbox", "my_domain", "host", "port", "audience", "org_id", "org_name", "apps", "users",
                "sessions", "lock", "ssl_context", "tls_names", "exp_leeway", "login_rate_limit", "site_urls",
                "rest_block", "ca_pem"}  # fmt: skip
    missing = sorted(name for name in public - lifecycle - settings if name not in DOC)
    assert not missing


def test_faults_and_objects_are_documented() -> None:
    assert all(f"`{fault}`" in DOC for fault in FAULTS)
    for sobject in TYPES:
        assert all(f"`{name}`" in DOC for name, _ in sobject.fields), sobject.name
