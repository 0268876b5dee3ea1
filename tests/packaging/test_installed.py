"""The installed wheel, as a user gets it from `pip install sfjwt-vault[...]` (issue 14).

No extra: the demo runs, and every cloud reference says which extra to install (a typed error, an exit
code from the documented set, a FAIL line in doctor, "needs the extra" in `sfjwt plugins`). [aws] only
and [vault] only: keygen, token and doctor against moto and OpenBao, as a first hour would go.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from sfjwt_vault.testing import SalesforceEmulator
from tests.packaging.conftest import Venv
from tests.vault.conftest import Bao

APP = {"SF_CONSUMER_KEY": "3MVG9packaging", "SF_USERNAME": "integration@acme.com"}


def assert_clean_error(result: object, code: int, *words: str) -> None:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == code, stderr  # type: ignore[attr-defined]
    lines = stderr.splitlines()
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), stderr
    assert "Traceback" not in stderr and "unexpected" not in stderr
    for word in words:
        assert word in stderr, (word, stderr)


@pytest.fixture(scope="module")
def plain(installed: Callable[[str], Venv]) -> Venv:
    return installed("")


def test_version_and_help(plain: Venv) -> None:
    from sfjwt_vault import __version__

    assert plain.run("--version").stdout.strip() == f"sfjwt-vault {__version__}"
    assert "examples:" in plain.run("token", "--help").stdout


def test_the_demo_runs_without_extras(plain: Venv) -> None:
    result = plain.run("demo")
    assert result.returncode == 0, result.stderr
    assert "invalid_grant: invalid assertion" in result.stdout and "GET limits       HTTP 200" in result.stdout
    check = plain.run("-c", "import sys, sfjwt_vault; print(sorted(m for m in sys.modules if m in ('boto3', 'hvac')))")
    assert check.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("extra", "ref"), [("aws", "aws-sm:prod/sf"), ("aws", "aws-kms:alias/sf"), ("vault", "vault:secret/sf")]
)
def test_token_names_the_missing_extra(plain: Venv, extra: str, ref: str) -> None:
    result = plain.run("token", env={**APP, "SFJWT_KEY": ref})
    assert_clean_error(result, 2, f"pip install 'sfjwt-vault[{extra}]'")


@pytest.mark.parametrize(
    ("module", "extra"),
    [("requests", "requests"), ("simple_salesforce", "simple-salesforce"), ("aiosalesforce", "aiosalesforce")],
)
def test_integrations_name_their_missing_extra(plain: Venv, module: str, extra: str) -> None:
    program = (
        "from sfjwt_vault.errors import MissingIntegrationError\n"
        "try:\n"
        f"    import sfjwt_vault.integrations.{module}\n"
        "except MissingIntegrationError as exc:\n"
        "    print(exc.hint)\n"
    )
    result = plain.run("-c", program)
    assert result.returncode == 0 and result.stdout.strip() == f"pip install 'sfjwt-vault[{extra}]'", result.stderr


def test_keygen_names_the_missing_extra(plain: Venv) -> None:
    result = plain.run("keygen", "--store", "aws-sm:prod/salesforce-jwt")
    assert_clean_error(result, 2, "pip install 'sfjwt-vault[aws]'")


def test_doctor_shows_the_missing_extra_as_a_fail_line(plain: Venv) -> None:
    result = plain.run("doctor", "--key", "vault:secret/sf", "--offline", "--format", "json", env=APP)
    assert result.returncode == 1, result.stderr
    [key] = [f for f in json.loads(result.stdout)["findings"] if f["line"] == "key"]
    assert key["status"] == "FAIL" and "pip install 'sfjwt-vault[vault]'" in key["fix"]


def test_plugins_says_which_extra_is_needed(plain: Venv) -> None:
    result = plain.run("plugins")
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "[loaded]" in rows["file"]
    for extra in ("aws", "vault"):
        assert "[loaded]" not in rows[extra] and f"[{extra}]" in rows[extra] and "extra" in rows[extra]


def test_library_users_get_the_same_typed_error(plain: Venv) -> None:
    code = (
        "from sfjwt_vault import Credentials, PluginError\n"
        "try:\n"
        "    Credentials('3MVG9x', 'u@acme.com', 'aws-sm:prod/sf').get_token()\n"
        "except PluginError as exc:\n"
        "    print(type(exc).__name__, exc.exit_code, exc.hint)\n"
    )
    result = plain.run("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MissingExtraError 2 ") and "sfjwt-vault[aws]" in result.stdout


def first_hour(venv: Venv, store: str, env: dict[str, str]) -> None:
    """keygen into the store, the certificate onto the (emulated) app, then token and doctor."""
    with SalesforceEmulator() as org:
        made = venv.run("keygen", "--store", store, "--cert-out", "app.crt", env=env)
        assert made.returncode == 0, made.stderr
        app = org.add_app((venv.scratch / "app.crt").read_bytes())
        org.add_user("integration@acme.com")
        settings = {
            **env,
            "SF_CONSUMER_KEY": app.consumer_key,
            "SF_USERNAME": "integration@acme.com",
            "SFJWT_KEY": store,
            "SF_TOKEN_URL": org.token_url,
        }
        token = venv.run("token", env=settings)
        assert token.returncode == 0, token.stderr
        assert json.loads(token.stdout)["instance_url"] == org.base_url
        doctor = venv.run("doctor", "--cert", "app.crt", "--format", "json", env=settings)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert org.tokens_issued == 2


def test_aws_extra_against_moto(installed: Callable[[str], Venv], moto_url: str) -> None:
    venv = installed("aws")
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SFJWT_PLUGINS": "aws",
    }
    first_hour(venv, f"aws-sm:sfjwt-packaging/{uuid.uuid4().hex[:8]}", env)


def test_vault_extra_against_openbao(installed: Callable[[str], Venv], bao: Bao) -> None:
    venv = installed("vault")
    env = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.root_token, "SFJWT_PLUGINS": "vault"}
    first_hour(venv, f"vault:secret/sfjwt-packaging/{uuid.uuid4().hex[:8]}", env)


@pytest.mark.parametrize(("extra", "other", "ref"), [("aws", "vault", "vault:secret/sf"), ("vault", "aws", "aws-sm:x")])
def test_one_extra_names_the_other(installed: Callable[[str], Venv], extra: str, other: str, ref: str) -> None:
    result = installed(extra).run("token", env={**APP, "SFJWT_KEY": ref})
    assert_clean_error(result, 2, f"pip install 'sfjwt-vault[{other}]'")
