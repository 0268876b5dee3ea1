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
