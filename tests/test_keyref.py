from __future__ import annotations

import pytest

from sfjwt_vault import ConfigurationError, KeyRef


def test_bare_path_is_a_file_reference() -> None:
    ref = KeyRef.parse("/etc/sf/key.pem")
    assert (ref.scheme, ref.path) == ("file", "/etc/sf/key.pem")


def test_scheme_options_and_field() -> None:
    ref = KeyRef.parse("aws-sm:prod/sf-jwt?region=eu-west-1&version_stage=AWSPREVIOUS#pem")
    assert ref.scheme == "aws-sm"
    assert ref.path == "prod/sf-jwt"
    assert ref.options == {"region": "eu-west-1", "version_stage": "AWSPREVIOUS"}
    assert ref.fragment == "pem"
    assert str(ref) == "aws-sm:prod/sf-jwt?region=eu-west-1&version_stage=AWSPREVIOUS#pem"


def test_arn_keeps_its_colons() -> None:
    ref = KeyRef.parse("aws-sm:arn:aws:secretsmanager:us-east-1:123456789012:secret:sf-AbCdEf")
    assert ref.path == "arn:aws:secretsmanager:us-east-1:123456789012:secret:sf-AbCdEf"


def test_windows_drive_letter_is_a_path() -> None:
    assert KeyRef.parse(r"C:\keys\sf.pem").scheme == "file"


@pytest.mark.parametrize("bad", ["", "   ", "file:", "vault:?version=2", "file:/a\x00b", "x" * 5000])
def test_malformed_references_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        KeyRef.parse(bad)


def test_a_pem_pasted_as_reference_is_refused_without_echoing_it() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    with pytest.raises(ConfigurationError) as info:
        KeyRef.parse(pem)
    assert "MIIEvQ" not in str(info.value)


@pytest.mark.parametrize(
    "bad", ["vault:secret/../other/sf", "aws-sm:prod/./sf", "vault:secret/%2e%2e/sf", "vault-transit:transit\\..\\x"]
)
def test_dot_segments_are_refused_for_store_schemes(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="path segment"):
        KeyRef.parse(bad)


def test_file_paths_are_the_users_choice_but_control_characters_are_not() -> None:
    assert KeyRef.parse("file:../keys/./sf.pem").path == "../keys/./sf.pem"
    for bad in ("file:/keys/sf\x00.pem", "file:/keys/sf\n.pem", "file:/keys/\x1b[31m.pem"):
        with pytest.raises(ConfigurationError, match="control characters"):
            KeyRef.parse(bad)


def test_unknown_options_are_refused_with_the_allowed_ones() -> None:
    ref = KeyRef.parse("aws-sm:prod/sf?regoin=eu-west-1")
    with pytest.raises(ConfigurationError, match="unknown option\\(s\\): regoin") as info:
        ref.check_options({"region"}, "aws-sm:prod/sf?region=eu-west-1")
    assert "allowed: region" in (info.value.hint or "")
    KeyRef.parse("aws-sm:prod/sf?region=eu-west-1").check_options({"region"}, "x")  # known: no error
