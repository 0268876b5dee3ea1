"""`sfjwt doctor` against the emulator: one test per misconfiguration, each naming the line and the fix."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sfjwt_vault import cli
from sfjwt_vault.doctor.findings import LINES
from sfjwt_vault.doctor.offline import sandbox_suffix
from sfjwt_vault.errors import Check
from sfjwt_vault.plugins import reset_host
from sfjwt_vault.testing import SalesforceEmulator
from sfjwt_vault.testing.emulator import make_test_keypair
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.conftest import pem_of, write_key

ROOT = Path(__file__).resolve().parent.parent
ENV_VARS = (
    "SF_CONSUMER_KEY",
    "SF_USERNAME",
    "SFJWT_KEY",
    "SF_AUDIENCE",
    "SF_TOKEN_URL",
    "SF_SANDBOX",
    "SFJWT_CA_BUNDLE",
    "SFJWT_TIMEOUT",
    "SFJWT_ROTATION_FALLBACK",
    "SFJWT_ALLOWED_HOSTS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real configuration leaks in; only the file backend loads (through its entry point)."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SFJWT_PLUGINS", "file")
    reset_host()
    yield
    reset_host()


def flags(sf: SalesforceApp, **over: str) -> list[str]:
    settings = {
        "--consumer-key": sf.consumer_key,
        "--username": sf.username,
        "--key": f"file:{sf.key_path}",
        "--token-url": sf.token_url,
    }
    settings.update({"--" + k.replace("_", "-"): v for k, v in over.items()})
    return [item for pair in settings.items() for item in pair]


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["doctor", "--format", "json", *args])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def lines(report: dict[str, Any], line: str, status: str | None = None) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["line"] == line and (status is None or f["status"] == status)]


def statuses(report: dict[str, Any]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for f in report["findings"]:
        result.setdefault(f["line"], set()).add(f["status"])
    return result


def cert_file(tmp_path: Path, pem: bytes, name: str = "app.crt") -> str:
    path = tmp_path / name
    path.write_bytes(pem)
    return str(path)


def app_on(emulator: SalesforceEmulator, tmp_path: Path, **user_flags: bool) -> tuple[list[str], bytes]:
    """A fresh key, app and user on `emulator`; returns doctor flags and the certificate PEM."""
    key, cert = make_test_keypair()
    key_path = write_key(tmp_path / "emu.key", pem_of(key))
    app = emulator.add_app(cert)
    user = emulator.add_user("integration@acme.com", **user_flags)
    args = ["--consumer-key", app.consumer_key, "--username", user.username, "--key", f"file:{key_path}"]
    return [*args, "--token-url", emulator.token_url], cert


def app_with_another_certificate(emulator: SalesforceEmulator, tmp_path: Path, key: rsa.RSAPrivateKey) -> list[str]:
    """Doctor flags for an app that holds the certificate of another key than `key`, that certificate as --cert."""
    _, uploaded = make_test_keypair()
    app = emulator.add_app(uploaded)
    user = emulator.add_user("integration@acme.com")
    key_path = write_key(tmp_path / "mine.key", pem_of(key))
    args = ["--consumer-key", app.consumer_key, "--username", user.username, "--key", f"file:{key_path}"]
    return [*args, "--token-url", emulator.token_url, "--cert", cert_file(tmp_path, uploaded)]


# -- the good path -------------------------------------------------------------------------------------


def test_correct_setup_exits_0_with_every_line_pass(
    salesforce_app: SalesforceApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(capsys, *flags(salesforce_app, cert=cert_file(tmp_path, salesforce_app.certificate_pem)))
    assert code == 0 and report["ok"] is True
    assert {f["status"] for f in report["findings"]} == {"PASS"}
    assert set(statuses(report)) == set(LINES)  # every checklist line was checked
    org = salesforce_app.emulator
    assert report["org_id"] == org.org_id and report["instance_url"] == org.base_url
    assert org.tokens_issued == 1  # exactly one live exchange
    assert f"{org.org_id}!" not in json.dumps(report)  # the access token is never shown


def test_text_output_names_lines_and_never_the_token(
    salesforce_app: SalesforceApp, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["doctor", *flags(salesforce_app)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "PASS  Steps 5-6. live exchange: token issued" in out
    assert salesforce_app.emulator.org_id in out
    assert "PASS  Check 1. consumer key: looks like" in out and "FAIL" not in out
    assert salesforce_app.consumer_key not in out  # only its first characters
    assert f"{salesforce_app.emulator.org_id}!" not in out + err


def test_subprocess_json_from_environment(salesforce_app: SalesforceApp) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'plugins'}",
        SFJWT_PLUGINS="file",
        SF_CONSUMER_KEY=salesforce_app.consumer_key,
        SF_USERNAME=salesforce_app.username,
        SFJWT_KEY=f"file:{salesforce_app.key_path}",
        SF_TOKEN_URL=salesforce_app.token_url,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sfjwt_vault.cli", "doctor", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and lines(report, "exchange", "PASS")


# -- one misconfiguration per test ---------------------------------------------------------------


def test_wrong_consumer_key(salesforce_app: SalesforceApp, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, *flags(salesforce_app, consumer_key="3MVG9" + "Q" * 80))
    assert code == 1 and report["ok"] is False
    [fail] = lines(report, "consumer_key", "FAIL")
    assert "invalid_client_id" in fail["detail"] and "Copy it again" in fail["fix"]
    assert fail["title"] == "Check 1. consumer key"


def test_malformed_consumer_key_warns_offline(
    salesforce_app: SalesforceApp, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(capsys, *flags(salesforce_app, consumer_key="0Ha5g000000abcd"), "--offline")
    assert code == 0  # a WARN alone does not fail
    [warn] = lines(report, "consumer_key", "WARN")
    assert "3MVG" in warn["detail"] and "Consumer Key" in warn["fix"]
    assert salesforce_app.emulator.exchange_count == 0


def test_wrong_username(salesforce_app: SalesforceApp, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, *flags(salesforce_app, username="nobody@acme.com"))
    assert code == 1
    [fail] = lines(report, "username", "FAIL")
    assert "user hasn't approved this consumer" in fail["detail"] and "match a user exactly" in fail["fix"]
    # Salesforce's answer is the same for a user that is not pre-authorized: line 5 is named too.
    assert lines(report, "user_authorized", "FAIL")


def test_sandbox_username_against_production(salesforce_app: SalesforceApp, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, *flags(salesforce_app, username="integration@acme.com.uat"))
    assert code == 1
    [warn] = lines(report, "username", "WARN")
    assert "sandbox username (suffix .uat)" in warn["detail"] and "--sandbox" in warn["fix"]
    assert lines(report, "username", "FAIL")


def test_production_audience_against_a_sandbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SalesforceEmulator(sandbox=True) as sandbox:
        args, _ = app_on(sandbox, tmp_path)
        code, report = run_json(capsys, *args)  # default audience: production
    assert code == 1
    [fail] = lines(report, "audience", "FAIL")
    assert "audience is invalid" in fail["detail"] and "--sandbox" in fail["fix"]
    assert fail["title"] == "Check 3. audience matches production or sandbox"


def test_certificate_of_another_key(
    salesforce_app: SalesforceApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, other_cert = make_test_keypair()
    code, report = run_json(capsys, *flags(salesforce_app, cert=cert_file(tmp_path, other_cert)))
    assert code == 1
    [fail] = lines(report, "certificate", "FAIL")
    assert "not made from this private key" in fail["detail"] and "sfjwt cert --key" in fail["fix"]


def test_app_holds_the_certificate_of_another_key(
    salesforce_emulator: SalesforceEmulator,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = app_with_another_certificate(salesforce_emulator, tmp_path, rsa_key)
    code, report = run_json(capsys, *args)
    assert code == 1
    offline, live = lines(report, "certificate", "FAIL")
    assert "not made from this private key" in offline["detail"]
    assert "invalid assertion" in live["detail"] and "sfjwt doctor --cert" in live["fix"]
    assert "4. certificate" in lines(report, "exchange", "FAIL")[0]["detail"]


def test_user_not_pre_authorized(
    tmp_path: Path, salesforce_emulator: SalesforceEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args, _ = app_on(salesforce_emulator, tmp_path, preauthorized=False)
    code, report = run_json(capsys, *args)
    assert code == 1
    [fail] = lines(report, "user_authorized", "FAIL")
    assert "user hasn't approved this consumer" in fail["detail"]
    assert "Admin approved users are pre-authorized" in fail["fix"] and "permission set" in fail["fix"]


def test_user_not_admin_approved(
    tmp_path: Path, salesforce_emulator: SalesforceEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args, _ = app_on(salesforce_emulator, tmp_path, admin_approved=False)
    code, report = run_json(capsys, *args)
    assert code == 1
    [fail] = lines(report, "user_authorized", "FAIL")
    assert "invalid_app_access" in fail["detail"] and "Profiles / Permission Sets" in fail["fix"]
    assert not lines(report, "username", "FAIL")  # the username is fine here


def test_inactive_user(
    tmp_path: Path, salesforce_emulator: SalesforceEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args, _ = app_on(salesforce_emulator, tmp_path, active=False)
    code, report = run_json(capsys, *args)
    assert code == 1
    [fail] = lines(report, "username", "FAIL")
    assert "inactive user" in fail["detail"] and "Reactivate" in fail["fix"]


def test_user_without_api_access(
    tmp_path: Path, salesforce_emulator: SalesforceEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args, _ = app_on(salesforce_emulator, tmp_path, api_enabled=False)
    code, report = run_json(capsys, *args)
    assert code == 1
    assert lines(report, "exchange", "PASS")  # a token is issued, as on Salesforce
    [fail] = lines(report, "api_permission", "FAIL")
    assert "API_DISABLED_FOR_ORG" in fail["detail"] and "API Enabled" in fail["fix"]


def test_clock_skew(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SalesforceEmulator(clock_skew=600) as skewed:
        args, _ = app_on(skewed, tmp_path)
        code, report = run_json(capsys, *args)
    assert code == 1
    measured, live = lines(report, "clock", "FAIL")
    assert "behind the token endpoint's" in measured["detail"] and "NTP" in measured["fix"]
    assert int(measured["detail"].split(" s ")[0].split()[-1]) >= 590
    assert "expired authorization code" in live["detail"] and "behind" in live["fix"]


# -- offline checks -------------------------------------------------------------------------------------


def test_missing_configuration_lists_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys)
    assert code == 1
    [fail] = lines(report, "configuration", "FAIL")
    assert all(v in fail["detail"] for v in ("SF_CONSUMER_KEY", "SF_USERNAME", "SFJWT_KEY"))
    assert {f["status"] for f in lines(report, "exchange")} == {"SKIP"}


def test_offline_never_contacts_salesforce(salesforce_app: SalesforceApp, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, *flags(salesforce_app), "--offline")
    assert code == 0
    assert salesforce_app.emulator.exchange_count == 0 and salesforce_app.emulator.rest_calls == 0
    assert {f["status"] for f in lines(report, "clock") + lines(report, "exchange")} == {"SKIP"}


def test_key_that_does_not_load(
    salesforce_app: SalesforceApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(capsys, *flags(salesforce_app, key=f"file:{tmp_path / 'absent.pem'}"))
    assert code == 1
    [fail] = lines(report, "key", "FAIL")
    assert "does not exist" in fail["detail"] and "sfjwt keygen" in fail["fix"]
    assert salesforce_app.emulator.exchange_count == 0  # no live exchange without a key


def offline(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    base = ["--consumer-key", "3MVG9" + "a" * 80, "--username", "u@acme.com", "--key", "file:/nonexistent.pem"]
    return run_json(capsys, *base, "--offline", *args)


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (["--audience", "https://acme.my.salesforce.com"], "WARN", "only External Client Apps"),
        (["--external-client-app"], "FAIL", "External Client Apps are not reachable"),
        (
            [
                "--external-client-app",
                "--audience",
                "https://acme.my.salesforce.com",
                "--token-url",
                "https://acme.my.salesforce.com",
            ],
            "PASS",
            "External Client App on My Domain",
        ),
        (["--token-url", "https://test.salesforce.com"], "FAIL", "disagree about production vs sandbox"),
        (["--token-url", "https://acme.lightning.force.com"], "FAIL", "Lightning domain"),
        (["--token-url", "http://login.salesforce.com"], "FAIL", "plain http"),
        (["--token-url", "https://acme--uat.sandbox.my.salesforce.com"], "FAIL", "disagree"),
        (["--sandbox", "--token-url", "https://acme--uat.sandbox.my.salesforce.com"], "PASS", "(sandbox)"),
    ],
)
def test_audience_and_token_host(capsys: pytest.CaptureFixture[str], args: list[str], status: str, words: str) -> None:
    _, report = offline(capsys, *args)
    found = lines(report, "audience", status)
    assert found and words in found[0]["detail"], report["findings"]


def test_sandbox_audience_wants_a_sandbox_username(capsys: pytest.CaptureFixture[str]) -> None:
    _, report = offline(capsys, "--sandbox")
    [warn] = lines(report, "username", "WARN")
    assert "no sandbox suffix" in warn["detail"] and "user@acme.com.uat" in warn["fix"]


@pytest.mark.parametrize(
    ("username", "suffix"),
    [
        ("u@acme.com.uat", "uat"),
        ("u@acme.org.full", "full"),
        ("u@acme.com", None),
        ("u@acme.co.uk", None),
        ("u@acme.com.au", None),
        ("u@mail.acme.de", None),
        ("u@acme.co.uk.dev", "dev"),
    ],
)
def test_sandbox_suffix_heuristic(username: str, suffix: str | None) -> None:
    assert sandbox_suffix(username) == suffix


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["doctor", "--format", "xml"])
    assert info.value.code == 2


def test_app_holds_an_old_certificate_while_the_local_one_matches(
    salesforce_emulator: SalesforceEmulator,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After a rotation whose certificate was not uploaded: the local --cert matches, Salesforce refuses."""
    from sfjwt_vault.certs import certificate_pem, self_signed_certificate
    from sfjwt_vault.signer import LocalSigner

    _, old_uploaded = make_test_keypair()
    app = salesforce_emulator.add_app(old_uploaded)
    user = salesforce_emulator.add_user("integration@acme.com")
    key_path = write_key(tmp_path / "new.key", pem_of(rsa_key))
    new_cert = cert_file(tmp_path, certificate_pem(self_signed_certificate(LocalSigner(rsa_key))), "new.crt")
    args = ["--consumer-key", app.consumer_key, "--username", user.username, "--key", f"file:{key_path}"]
    code, report = run_json(capsys, *args, "--token-url", salesforce_emulator.token_url, "--cert", new_cert)
    assert code == 1
    [fail] = lines(report, "certificate", "FAIL")
    assert "invalid assertion" in fail["detail"] and f"upload {new_cert} to the app" in fail["fix"]


# -- the report itself: numbering, each thing said once, hosts ---------------------------------------


def test_every_line_is_numbered_after_the_readme() -> None:
    """Checks 1-6 are the README's troubleshooting checklist; key, clock and exchange its setup steps."""
    titles = list(LINES.values())
    assert len(set(titles)) == len(titles)
    numbered = [t for line, t in LINES.items() if line != "configuration"]
    assert all(re.match(r"^(Check [1-6]|Step [1-6]|Steps [1-6]-[1-6])\. ", t) for t in numbered), numbered
    assert [t.split(".")[0] for t in titles if t.startswith("Check")] == [f"Check {n}" for n in range(1, 7)]
    readme = (ROOT / "README.md").read_text()
    setup_steps = readme.split("## The six setup steps", 1)[1].split("\n## ", 1)[0]
    for title in numbered:
        if title.startswith("Step"):
            step = title.split(".")[0].split()[-1].split("-")[0]
            assert f"| {step}. " in setup_steps, title
    checklist = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    for check in Check:
        if check is not Check.CLOCK:
            assert check.value in checklist, check


def test_text_names_each_line_once(
    salesforce_emulator: SalesforceEmulator,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Three certificate findings (local mismatch, expiry, Salesforce's refusal) under one "Check 4"."""
    args = app_with_another_certificate(salesforce_emulator, tmp_path, rsa_key)
    code = cli.main(["doctor", *args])
    out = capsys.readouterr().out
    assert code == 1
    for title in LINES.values():
        assert out.count(title) == 1 + out.count(f"see {title!r}"), title
    header = "FAIL  Check 4. certificate in Salesforce matches the private key\n"
    block = out.split(header, 1)[1].split("\nPASS  Step 4")[0]
    assert block.count("      FAIL  ") == 2 and "invalid assertion" in block and "      PASS  valid until" in block


def test_the_consumer_key_fix_says_the_propagation_delay_once(
    salesforce_app: SalesforceApp, capsys: pytest.CaptureFixture[str]
) -> None:
    _, report = run_json(capsys, *flags(salesforce_app, consumer_key="3MVG9" + "Q" * 80))
    [fail] = lines(report, "consumer_key", "FAIL")
    assert fail["fix"].count("2 to 10 minutes") == 1


def test_online_without_cert_does_not_say_offline(
    tmp_path: Path, salesforce_emulator: SalesforceEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args, _ = app_on(salesforce_emulator, tmp_path, active=False)  # the exchange fails: the SKIP stays
    _, report = run_json(capsys, *args)
    [skip] = lines(report, "certificate", "SKIP")
    assert "offline" not in skip["detail"] and "no --cert FILE given" in skip["detail"]


@pytest.mark.parametrize("audience", ["https://attacker.example.net", "https://acme.lightning.force.com./"])
def test_offline_never_calls_an_arbitrary_host_a_site(capsys: pytest.CaptureFixture[str], audience: str) -> None:
    code, report = offline(capsys, "--audience", audience)
    assert code == 1
    [fail] = lines(report, "audience", "FAIL")
    assert "not a Salesforce login domain" in fail["detail"] or "Lightning" in fail["detail"]
    assert "SFJWT_ALLOWED_HOSTS" in fail["fix"] or "My Domain" in fail["fix"]
    assert "site" not in json.dumps(lines(report, "audience", "PASS") + lines(report, "audience", "WARN"))


def test_an_experience_cloud_site_is_named_as_one(capsys: pytest.CaptureFixture[str]) -> None:
    site = "https://acme.my.site.com/partners"
    _, report = offline(capsys, "--audience", site, "--token-url", site)
    [ok] = lines(report, "audience", "PASS")
    assert ok["detail"].endswith("(Experience Cloud site)")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_host_allowed_by_the_setting_is_reported_as_such(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    site = "https://community.acme.com"
    allow = ["--allow-host", "community.acme.com"] if how == "flag" else []
    if how == "env":
        monkeypatch.setenv("SFJWT_ALLOWED_HOSTS", "*.acme.com")
    _, report = offline(capsys, "--audience", site, "--token-url", site, *allow)
    source = "--allow-host" if how == "flag" else "SFJWT_ALLOWED_HOSTS"
    details = [f["detail"] for f in lines(report, "audience", "PASS")]
    assert f"community.acme.com is not a Salesforce domain: allowed by {source}" in details
    assert not lines(report, "audience", "FAIL")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("SFJWT_TIMEOUT", "0", "SFJWT_TIMEOUT=0: the timeout must be a number of seconds greater than 0"),
        ("SF_SANDBOX", "maybe", "SF_SANDBOX=maybe is not a clear yes or no"),
        ("SFJWT_CA_BUNDLE", "/nonexistent.pem", "SFJWT_CA_BUNDLE=/nonexistent.pem: no such file"),
    ],
)
def test_bad_settings_are_fail_lines_and_block_the_live_exchange(
    salesforce_app: SalesforceApp,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    words: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, report = run_json(capsys, *flags(salesforce_app))
    assert code == 1
    [fail] = lines(report, "configuration", "FAIL")
    assert fail["detail"] == words and fail["fix"]
    assert salesforce_app.emulator.exchange_count == 0


def test_a_key_file_others_can_read_is_a_fail(
    salesforce_app: SalesforceApp, capsys: pytest.CaptureFixture[str]
) -> None:
    os.chmod(salesforce_app.key_path, 0o644)
    code, report = run_json(capsys, *flags(salesforce_app), "--offline")
    assert code == 1
    [fail] = lines(report, "key", "FAIL")
    assert "0644" in fail["detail"] and "chmod 600" in fail["fix"]
