"""The `sfjwt` CLI: token output formats, exit codes, one-line errors with hints, plugins, demo."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sfjwt_vault.cli import main
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.conftest import pem_of, write_key


def sfjwt(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process, as a user would (same interpreter, clean SF_* environment)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    return subprocess.run(
        [sys.executable, "-m", "sfjwt_vault.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=timeout,
        check=False,
        input=input,
    )


def app_env(sf: SalesforceApp, **extra: str) -> dict[str, str]:
    return {
        "SF_CONSUMER_KEY": sf.consumer_key,
        "SF_USERNAME": sf.username,
        "SFJWT_KEY": f"file:{sf.key_path}",
        "SF_TOKEN_URL": sf.token_url,
        **extra,
    }


def test_token_json(salesforce_app: SalesforceApp) -> None:
    result = sfjwt("token", env=app_env(salesforce_app))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["instance_url"] == salesforce_app.emulator.base_url
    assert data["token_type"] == "Bearer" and data["access_token"]
    assert set(data) >= {"access_token", "instance_url", "id", "token_type", "scope", "issued_at"}
    assert salesforce_app.emulator.tokens_issued == 1


def test_token_env_format_and_flags_override_env(salesforce_app: SalesforceApp) -> None:
    env = app_env(salesforce_app, SF_USERNAME="wrong@acme.com")
    result = sfjwt("token", "--format", "env", "--username", salesforce_app.username, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    token = shlex.split(lines[0].removeprefix("export SF_ACCESS_TOKEN="))[0]
    assert lines[0].startswith("export SF_ACCESS_TOKEN='") and token.startswith(salesforce_app.emulator.org_id + "!")
    assert lines[1] == f"export SF_INSTANCE_URL={salesforce_app.emulator.base_url}"
    shell = subprocess.run(
        ["bash", "-c", 'eval "$1"; printenv SF_ACCESS_TOKEN SF_INSTANCE_URL', "-", result.stdout],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.splitlines() == [token, salesforce_app.emulator.base_url]


def test_missing_configuration_exits_2() -> None:
    result = sfjwt("token")
    assert result.returncode == 2
    assert result.stderr.startswith("error: missing configuration: SF_CONSUMER_KEY, SF_USERNAME, SFJWT_KEY")
    assert "hint:" in result.stderr and "Traceback" not in result.stderr


def test_key_backend_error_exits_3(salesforce_app: SalesforceApp, tmp_path: Path) -> None:
    result = sfjwt("token", env=app_env(salesforce_app, SFJWT_KEY=str(tmp_path / "missing.pem")))
    assert result.returncode == 3
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_salesforce_rejection_exits_4_with_hint(salesforce_app: SalesforceApp, tmp_path: Path) -> None:
    other = write_key(tmp_path / "other.pem", pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    result = sfjwt("token", env=app_env(salesforce_app, SFJWT_KEY=str(other)))
    assert result.returncode == 4
    first, hint = result.stderr.splitlines()[:2]
    assert first == "error: Salesforce refused the token request: invalid_grant: invalid assertion"
    assert hint.startswith("hint: Check 4")
    assert "Traceback" not in result.stderr


def test_transient_failure_exits_5(salesforce_app: SalesforceApp) -> None:
    salesforce_app.emulator.inject("503", times=20)
    env = app_env(salesforce_app, SFJWT_TIMEOUT="2")
    result = sfjwt("token", env=env, timeout=120)
    assert result.returncode == 5
    assert "HTTP 503" in result.stderr


def test_debug_shows_a_traceback_without_secrets(salesforce_app: SalesforceApp, tmp_path: Path) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = pem_of(other_key)
    other = write_key(tmp_path / "other.pem", pem)
    result = sfjwt("--debug", "token", env=app_env(salesforce_app, SFJWT_KEY=str(other)))
    assert result.returncode == 4
    assert "Traceback" in result.stderr
    body = b"".join(pem.splitlines()[1:-1]).decode()
    for start in range(0, len(body) - 32, 32):
        assert body[start : start + 32] not in result.stderr


def test_usage_errors() -> None:
    nothing = sfjwt()
    assert nothing.returncode == 2
    assert nothing.stderr.splitlines() == [
        "error: sfjwt: no command given",
        "hint: run `sfjwt --help` for the commands, or `sfjwt demo` to watch the flow offline",
    ]
    bad = sfjwt("token", "--format", "xml")
    assert bad.returncode == 2 and bad.stderr.startswith("error: sfjwt token: argument --format: invalid choice")
    assert bad.stderr.splitlines()[1] == "hint: see `sfjwt token --help`"


def test_version() -> None:
    from sfjwt_vault import __version__

    result = sfjwt("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"sfjwt-vault {__version__}"


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_before_or_after_the_command(tmp_path: Path, where: str) -> None:
    args = ["token"]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    result = sfjwt(
        *args,
        env={"SF_CONSUMER_KEY": "3MVG9x", "SF_USERNAME": "u@acme.com", "SFJWT_KEY": "k.pem", "SFJWT_TIMEOUT": "-1"},
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "error: SFJWT_TIMEOUT=-1: the timeout" in result.stderr


def test_errors_say_where_debug_goes() -> None:
    """A hint-less error points at --debug and says both places it may go."""
    from sfjwt_vault.cli import DEBUG_HINT

    assert "sfjwt --debug token" in DEBUG_HINT and "sfjwt token ... --debug" in DEBUG_HINT


def test_help_describes_every_command_and_option() -> None:
    from sfjwt_vault.cli import build_parser
    from sfjwt_vault.settings import SETTINGS

    parser = build_parser()
    top = parser.format_help()
    assert "examples:" in top and "exit codes:" in top
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {c.dest: c.help for c in subparsers._choices_actions}
    assert set(listed) == set(subparsers.choices)
    for name, sub in subparsers.choices.items():
        assert listed[name], name  # one line in `sfjwt --help`
        if name == "emulator":
            continue  # its own parser (sfjwt_vault.testing) answers `sfjwt emulator --help`
        assert sub.description and sub.epilog and sub.epilog.startswith("examples:"), name
        for action in sub._actions:
            if action.dest in ("help", "debug"):
                continue
            assert action.help and ("default:" in action.help or "required" in action.help), (name, action.dest)
    token_help = subparsers.choices["token"].format_help()
    for setting in SETTINGS:
        if setting.flag:
            assert setting.flag in token_help and setting.env in token_help.replace("\n", " "), setting.env
    usage = subparsers.choices["keygen"].format_usage()
    assert " --store REF" in usage and "[--store" not in usage  # shown as required


def test_the_readme_exit_code_table_is_the_code() -> None:
    import inspect

    from sfjwt_vault import cli, errors
    from sfjwt_vault.doctor.report import EXIT_FAILED

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("| exit code | meaning |", 1)[1].split("\n\n", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    raised = {c.exit_code for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.SfjwtError)}
    raised.discard(errors.SfjwtError.exit_code)  # the base class only: every raised error is a subclass
    constants = {
        cli.EXIT_OK,
        cli.EXIT_USAGE,
        cli.EXIT_INTERNAL,
        cli.EXIT_INTERRUPTED,
        cli.EXIT_PIPE_CLOSED,
        EXIT_FAILED,
    }
    assert documented == raised | constants


def test_plugins_lists_the_file_backend(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["file"]["schemes"] == ["file"]
    assert rows["file"]["distribution"] == "sfjwt-vault"
    assert rows["file"]["module"] == "sfjwt_vault_file"
    assert rows["file"]["status"] == "loaded"
    assert main(["plugins"]) == 0
    assert "file:" in capsys.readouterr().out


def test_plugins_respects_the_allow_list() -> None:
    result = sfjwt("plugins", env={"SFJWT_PLUGINS": "nothing"})
    assert result.returncode == 0
    assert "not in SFJWT_PLUGINS" in result.stdout


def test_cert_for_a_file_key(key_file: Path, rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    from cryptography import x509

    out = tmp_path / "cert.pem"
    result = sfjwt("cert", "--key", str(key_file), "--common-name", "my-app", "--days", "30", "--out", str(out))
    assert result.returncode == 0, result.stderr
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert cert.public_key().public_numbers() == rsa_key.public_key().public_numbers()  # type: ignore[union-attr]
    assert "my-app" in cert.subject.rfc4514_string()
    cert.verify_directly_issued_by(cert)


def test_demo_runs_and_leaves_nothing_behind(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    before = {p.name for p in shm.iterdir()} if shm.is_dir() else set()
    result = sfjwt("demo", env={"TMPDIR": str(tmp_path)}, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for step in (
        "1. Key pair",
        "2. The org",
        "3. The key in a store",
        "4. Mint and exchange",
        "5. Use the token",
        "6. What a mistake looks like",
        "7. Clean up",
    ):
        assert step in out
    assert "GET limits       HTTP 200" in out
    assert "invalid_grant: invalid assertion" in out
    assert "BEGIN PRIVATE KEY" not in out
    after = {p.name for p in shm.iterdir()} if shm.is_dir() else set()
    assert not {n for n in after - before if n.startswith("sfjwt-demo-")}
    assert not list(tmp_path.iterdir())


def test_emulator_command_takes_its_own_options(tmp_path: Path) -> None:
    from sfjwt_vault.testing import make_test_keypair

    _, cert = make_test_keypair()
    (tmp_path / "app.crt").write_bytes(cert)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sfjwt_vault.cli",
            "emulator",
            "--cert",
            str(tmp_path / "app.crt"),
            "--username",
            "u@acme.com",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_lines = [process.stdout.readline() for _ in range(3)]
        assert any("/services/oauth2/token" in line for line in first_lines), first_lines
    finally:
        process.terminate()
        process.wait(timeout=10)
