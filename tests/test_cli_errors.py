"""Every CLI error path a user can cause, run as a user runs it (a child process): the exit code is one
the README documents, stderr has an `error:` line and a `hint:` line, no traceback without --debug, and
no key, assertion or token anywhere in the output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sfjwt_vault.testing.pytest_plugin import SalesforceApp

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED = {
    int(code)
    for code in re.findall(
        r"^\| (\d+) \|", (ROOT / "README.md").read_text().split("| exit code | meaning |")[1].split("\n\n")[0], re.M
    )
}
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


@dataclass
class Case:
    """One command line; `env` and `args` may use {key}, {url}, {tmp}: the app's key file, token URL, a folder."""

    args: list[str]
    code: int
    words: str
    env: dict[str, str] = field(default_factory=dict)
    app: bool = True  # start from the emulator app's working settings
    setup: Callable[[Path], None] | None = None


def _file(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda tmp: (tmp / name).write_bytes(data)


def _symlink(name: str, target: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / name).symlink_to(tmp / target)


CASES: dict[str, Case] = {
    # settings, each checked when read (issue 14 item 2)
    "missing configuration": Case(["token"], 2, "missing configuration: SF_CONSUMER_KEY", app=False),
    "--timeout -1": Case(["token", "--timeout", "-1"], 2, "--timeout -1: the timeout must be"),
    "SFJWT_TIMEOUT=0": Case(["token"], 2, "SFJWT_TIMEOUT=0: the timeout must be", {"SFJWT_TIMEOUT": "0"}),
    "--ca-bundle missing": Case(
        ["token", "--ca-bundle", "/nonexistent.pem"], 2, "--ca-bundle /nonexistent.pem: no such file"
    ),
    "--ca-bundle not PEM": Case(
        ["token", "--ca-bundle", "{tmp}/ca.pem"], 2, "holds no PEM certificate", setup=_file("ca.pem", b"junk\n")
    ),
    "SF_SANDBOX=maybe": Case(["token"], 2, "SF_SANDBOX=maybe is not a clear yes or no", {"SF_SANDBOX": "maybe"}),
    "SFJWT_ROTATION_FALLBACK=maybe": Case(
        ["token"], 2, "SFJWT_ROTATION_FALLBACK=maybe is not a clear", {"SFJWT_ROTATION_FALLBACK": "maybe"}
    ),
    "SFJWT_SESSION_LIFETIME=0": Case(["token"], 2, "SFJWT_SESSION_LIFETIME=0", {"SFJWT_SESSION_LIFETIME": "0"}),
    "SFJWT_TOKEN_CACHE shape": Case(["token"], 2, "not a token cache reference", {"SFJWT_TOKEN_CACHE": "dynamo"}),
    "SFJWT_ALLOWED_HOSTS URL": Case(["token"], 2, "not a host name", {"SFJWT_ALLOWED_HOSTS": "https://proxy.example"}),
    "consumer key with a space": Case(["token"], 2, "contains whitespace", {"SF_CONSUMER_KEY": "3MVG9 abc"}),
    # hosts (issue 13 item 4)
    "token URL off Salesforce": Case(
        ["token", "--token-url", "https://attacker.example.net"], 2, "is not a Salesforce login domain"
    ),
    "Lightning with a trailing dot": Case(
        ["token"], 2, "is a Lightning domain", {"SF_TOKEN_URL": "https://acme.lightning.force.com./"}
    ),
    "plain http": Case(["token", "--audience", "http://login.salesforce.com"], 2, "plain http"),
    # key references
    "a PEM pasted as the key": Case(
        ["token"], 2, "SFJWT_KEY", {"SFJWT_KEY": f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"}
    ),
    "unknown scheme": Case(["token", "--key", "fiel:/tmp/k.pem"], 2, "fiel"),
    "plugin not allowed": Case(["token", "--key", "aws-sm:prod/sf"], 2, "aws-sm", {"SFJWT_PLUGINS": "file"}),
    "key file missing": Case(["token", "--key", "file:{tmp}/absent.pem"], 3, "does not exist"),
    # Salesforce and the network
    "Salesforce refuses": Case(["token", "--username", "nobody@acme.com"], 4, "user hasn't approved this consumer"),
    "transient": Case(["token", "--timeout", "2"], 5, "HTTP 503"),
    # keygen and cert
    "keygen without --store": Case(["keygen"], 2, "the following arguments are required: --store", app=False),
    "keygen --bits 1000": Case(["keygen", "--store", "file:{tmp}/k", "--bits", "1000"], 2, "2048, 3072 or 4096"),
    "keygen --days 0": Case(["keygen", "--store", "file:{tmp}/k", "--days", "0"], 2, "--days 0"),
    "keygen --cert-out is the key": Case(
        ["keygen", "--store", "file:{tmp}/k", "--cert-out", "{tmp}/k"], 2, "names the key file itself"
    ),
    "keygen --cert-out exists": Case(
        ["keygen", "--store", "file:{tmp}/k", "--cert-out", "{tmp}/c"], 2, "already exists", setup=_file("c", b"x")
    ),
    "keygen --cert-out symlink": Case(
        ["keygen", "--store", "file:{tmp}/k", "--cert-out", "{tmp}/c"], 2, "symbolic link", setup=_symlink("c", "other")
    ),
    "cert --days 0": Case(["cert", "--key", "{key}", "--days", "0"], 2, "--days 0"),
    "cert --common-name empty": Case(["cert", "--key", "{key}", "--common-name", ""], 2, "--common-name"),
    "cert --out in a missing folder": Case(["cert", "--key", "{key}", "--out", "{tmp}/no/c.crt"], 2, "does not exist"),
    "keygen --cert-out in a missing folder": Case(
        ["keygen", "--store", "file:{tmp}/k", "--cert-out", "{tmp}/no/c.crt"], 2, "does not exist"
    ),
    "cert --out exists": Case(
        ["cert", "--key", "{key}", "--out", "{tmp}/c"], 2, "already exists", setup=_file("c", b"x")
    ),
    # usage
    "no command": Case([], 2, "no command given", app=False),
    "unknown command": Case(["tokens"], 2, "invalid choice: 'tokens'", app=False),
    "unknown option": Case(["token", "--colour"], 2, "unrecognized arguments: --colour", app=False),
    "bad --format": Case(["token", "--format", "xml"], 2, "invalid choice: 'xml'", app=False),
    "doctor bad --format": Case(["doctor", "--format", "xml"], 2, "invalid choice: 'xml'", app=False),
    "keygen --bits text": Case(["keygen", "--store", "file:{tmp}/k", "--bits", "many"], 2, "invalid int value"),
}


def run(case: Case, sf: SalesforceApp, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    fill = {"key": f"file:{sf.key_path}", "url": sf.token_url, "tmp": str(tmp)}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    env["SFJWT_PLUGINS"] = "file"
    if case.app:
        env.update(
            SF_CONSUMER_KEY=sf.consumer_key, SF_USERNAME=sf.username, SFJWT_KEY=fill["key"], SF_TOKEN_URL=sf.token_url
        )
    env.update({k: v.format(**fill) for k, v in case.env.items()})
    return subprocess.run(
        [sys.executable, "-m", "sfjwt_vault.cli", *(a.format(**fill) for a in case.args), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def assert_no_secret(sf: SalesforceApp, text: str) -> None:
    body = "".join(sf.private_key_pem.decode().splitlines()[1:-1])
    assert not any(body[i : i + 32] in text for i in range(0, len(body) - 32, 16)), "key material in the output"
    assert f"{sf.emulator.org_id}!" not in text, "an access token in the output"
    assert "eyJ" not in text, "an assertion in the output"
    assert PEM_BODY not in text


@pytest.mark.parametrize("name", list(CASES))
def test_cli_error_path(name: str, salesforce_app: SalesforceApp, tmp_path: Path) -> None:
    case = CASES[name]
    if case.setup:
        case.setup(tmp_path)
    if name == "transient":
        salesforce_app.emulator.inject("503", times=20)
    result = run(case, salesforce_app, tmp_path)
    assert result.returncode == case.code, result.stderr
    assert result.returncode in DOCUMENTED
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and case.words in errors[0], result.stderr
    assert lines[lines.index(errors[0]) + 1].startswith("hint: "), result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert_no_secret(salesforce_app, result.stdout + result.stderr)


@pytest.mark.parametrize("name", ["SFJWT_TIMEOUT=0", "Salesforce refuses", "cert --days 0"])
def test_debug_adds_the_traceback_and_still_no_secret(name: str, salesforce_app: SalesforceApp, tmp_path: Path) -> None:
    case = CASES[name]
    result = run(case, salesforce_app, tmp_path, "--debug")
    assert result.returncode == case.code
    assert "Traceback" in result.stderr
    assert_no_secret(salesforce_app, result.stdout + result.stderr)
