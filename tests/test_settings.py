"""One settings reader (sfjwt_vault.settings): every setting checked when it is read, the same way for
`Credentials.from_env`, the CLI and doctor, and the README's configuration table lists exactly it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sfjwt_vault import Credentials, settings
from sfjwt_vault.errors import ConfigurationError
from sfjwt_vault.keyref import KeyRef
from sfjwt_vault.testing import make_test_keypair

ROOT = Path(__file__).resolve().parent.parent
BASE = {"SF_CONSUMER_KEY": "3MVG9abc", "SF_USERNAME": "u@acme.com", "SFJWT_KEY": "file:k.pem"}


def refused(env: dict[str, str]) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        Credentials.from_env({**BASE, **env})
    assert info.value.hint, info.value.message
    assert "\n" not in info.value.message
    return info.value


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf", "nan", "1e999", " "])
def test_timeout_must_be_positive_seconds(value: str) -> None:
    if not value.strip():
        assert Credentials.from_env({**BASE, "SFJWT_TIMEOUT": value})  # empty: unset, the default applies
        return
    error = refused({"SFJWT_TIMEOUT": value})
    assert error.message.startswith(f"SFJWT_TIMEOUT={value}: the timeout must be a number of seconds greater than 0")


@pytest.mark.parametrize("value", ["0", "-5", "x", "86401"])
def test_session_lifetime_is_checked(value: str) -> None:
    assert "SFJWT_SESSION_LIFETIME" in refused({"SFJWT_SESSION_LIFETIME": value}).message


@pytest.mark.parametrize("var", ["SF_SANDBOX", "SFJWT_ROTATION_FALLBACK"])
@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "tru"])
def test_booleans_accept_only_clear_values(var: str, value: str) -> None:
    error = refused({var: value})
    assert error.message == f"{var}={value} is not a clear yes or no"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("TRUE", True),
        ("yes", True),
        ("On", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
    ],
)
def test_clear_booleans(value: str, expected: bool) -> None:
    creds = Credentials.from_env({**BASE, "SF_SANDBOX": value, "SFJWT_ROTATION_FALLBACK": value})
    assert creds.rotation_fallback is expected
    assert creds.audience == ("https://test.salesforce.com" if expected else "https://login.salesforce.com")


def test_ca_bundle_must_exist_be_a_readable_file_and_hold_certificates(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.pem"
    error = refused({"SFJWT_CA_BUNDLE": str(missing)})
    assert error.message == f"SFJWT_CA_BUNDLE={missing}: no such file"
    assert str(missing) in error.message
    assert "not a regular file" in refused({"SFJWT_CA_BUNDLE": str(tmp_path)}).message
    (tmp_path / "empty.pem").write_text("not a certificate\n")
    assert "holds no PEM certificate" in refused({"SFJWT_CA_BUNDLE": str(tmp_path / "empty.pem")}).message
    (tmp_path / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert "malformed PEM" in refused({"SFJWT_CA_BUNDLE": str(tmp_path / "broken.pem")}).message
    _, cert = make_test_keypair()
    (tmp_path / "ca.pem").write_bytes(cert)
    assert Credentials.from_env({**BASE, "SFJWT_CA_BUNDLE": str(tmp_path / "ca.pem")}).verify == str(
        tmp_path / "ca.pem"
    )


def test_a_fifo_as_ca_bundle_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "ca.fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in refused({"SFJWT_CA_BUNDLE": str(fifo)}).message


def test_token_cache_reference_shape() -> None:
    assert (
        "SFJWT_TOKEN_CACHE=dynamodb is not a token cache reference"
        in refused({"SFJWT_TOKEN_CACHE": "dynamodb"}).message
    )
    assert Credentials.from_env({**BASE, "SFJWT_TOKEN_CACHE": "local"}).shared_cache == "local"


def test_secrets_are_never_echoed() -> None:
    error = refused({"SF_CONSUMER_KEY": "3MVG9 secretish"})
    assert "secretish" not in error.message and error.message.startswith("SF_CONSUMER_KEY:")
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
    for pem in (
        f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----",
        f"-----BEGIN PRIVATE KEY----- {body}",
    ):
        error = refused({"SFJWT_KEY": pem})
        assert error.message.startswith("SFJWT_KEY: ") and body not in str(error)
    assert "looks like a PEM key" in error.message


def test_flags_win_over_the_environment_and_name_themselves() -> None:
    read = settings.read({**BASE, "SFJWT_TIMEOUT": "3"}, flags={"timeout": "7", "sandbox": True})
    assert read.get("timeout") == 7.0 and read.get("sandbox") is True
    assert read.sources["timeout"] == "--timeout" and read.sources["username"] == "SF_USERNAME"
    with pytest.raises(ConfigurationError, match=r"^--timeout -1: the timeout"):
        settings.read(BASE, flags={"timeout": "-1"})
    with pytest.raises(ConfigurationError, match=r"^--ca-bundle /nonexistent.pem: no such file"):
        settings.read(BASE, flags={"verify": "/nonexistent.pem"})


def test_keyword_values_win_and_pass_through() -> None:
    creds = Credentials.from_env({**BASE, "SFJWT_TIMEOUT": "abc"}, timeout=4.0, session_lifetime=1200)
    assert creds.session_lifetime == 1200.0
    assert isinstance(creds.key, KeyRef)


def test_read_all_reports_every_problem() -> None:
    _, problems = settings.read_all({"SFJWT_TIMEOUT": "0", "SF_SANDBOX": "maybe", "SF_TOKEN_URL": "https://x.example"})
    assert set(problems) == {"timeout", "sandbox", "token_url"}


def test_missing_settings_are_named_together() -> None:
    with pytest.raises(ConfigurationError) as info:
        Credentials.from_env({"SF_USERNAME": "u@x.com"})
    assert info.value.message == "missing configuration: SF_CONSUMER_KEY, SFJWT_KEY"


def readme_table() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_the_readme_configuration_table_is_the_settings_table() -> None:
    rows = readme_table()
    assert [row[0].strip("`") for row in rows] == [s.env for s in settings.SETTINGS]
    for row, setting in zip(rows, settings.SETTINGS, strict=True):
        assert row[1] == (f"`{setting.flag}`" if setting.flag else "—"), row
        assert row[2] == setting.meaning, row
        assert row[3] == setting.default, row


def test_no_other_module_reads_these_variables() -> None:
    """One reader: the settings' variables appear in no other module's os.environ lookups."""
    names = "|".join(re.escape(s.env) for s in settings.SETTINGS)
    pattern = re.compile(rf"environ(?:\.get)?\(?\[?[\"']({names})[\"']")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("sfjwt_vault", "plugins")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "settings.py" and pattern.search(path.read_text())
    ]
    assert offenders == []
