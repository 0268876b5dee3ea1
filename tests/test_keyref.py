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


@pytest.mark.parametrize(
    "pem",
    [
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
        "  -----BEGIN RSA PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END RSA PRIVATE KEY-----",
        '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"}',
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3S"
        + "C6dVMvDuictGeurT8jNbvJZHtCSuYEvuNMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ",
        "x" * 3000 + "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ],
)
def test_a_pasted_pem_gets_the_pem_message_and_is_never_echoed(pem: str) -> None:
    """Multi-line and over-long pastes too: the control-character and length checks used to fire first."""
    with pytest.raises(ConfigurationError) as info:
        KeyRef.parse(pem)
    assert info.value.message == "the key reference looks like a PEM key, not a reference to one"
    assert "MIIEvQ" not in str(info.value) and "MIIEvQ" not in repr(info.value)


@pytest.mark.parametrize(
    ("ref", "meant"), [("aws_sm:prod/x", "aws-sm"), ("AWS-KMS:alias/k", "aws-kms"), ("Vault:secret/x", "vault")]
)
def test_a_malformed_scheme_is_not_taken_for_a_file_path(ref: str, meant: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        KeyRef.parse(ref)
    assert info.value.message.endswith(f"did you mean `{meant}:`?")
    assert info.value.hint == f"for a file whose name contains ':', write file:./{ref}"


@pytest.mark.parametrize(
    "ref",
    [
        "file:k.pem?passphrase_env=A&passphrase_env=B",
        "aws-sm:x?region=eu-west-1&region=us-east-1",
        "vault:a/b?version=1&version=2",
    ],
)
def test_a_repeated_option_is_refused_for_every_scheme(ref: str) -> None:
    with pytest.raises(ConfigurationError, match=r"gives the option '[a-z_]+' twice"):
        KeyRef.parse(ref)
