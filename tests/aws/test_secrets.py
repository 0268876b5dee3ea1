"""aws-sm: reading PEM, JSON and binary secrets from a real moto server, versions, and the wipe path."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sfjwt_vault_aws import clients, secretsmanager
from sfjwt_vault_aws.ref import parse_secret_ref

from sfjwt_vault import ConfigurationError, KeyBackendError, KeyFormatError, KeyRef, TransientError
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost
from tests.conftest import pem_of


def fetched(host: PluginHost, ref: str) -> bytes:
    with host.fetch_key(KeyRef.parse(ref)) as buffer:
        return bytes(buffer.view())


def public_numbers_via(host: PluginHost, ref: str) -> rsa.RSAPublicNumbers:
    with open_signer(ref, host) as signer:
        return signer.public_key().public_numbers()


def test_plain_pem_secret_string(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem.decode())
    assert fetched(aws_host, f"aws-sm:{secret_name}") == pem


def test_signer_from_secret_matches_key(
    aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes, rsa_key: rsa.RSAPrivateKey
) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem.decode())
    assert public_numbers_via(aws_host, f"aws-sm:{secret_name}") == rsa_key.public_key().public_numbers()


def test_json_default_field(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(
        Name=secret_name, SecretString=json.dumps({"client_id": "x", "private_key": pem.decode(), "n": [1, {"a": 2}]})
    )
    assert fetched(aws_host, f"aws-sm:{secret_name}") == pem


def test_json_named_field_with_escapes(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    # ensure_ascii + "\/" + "\u" escapes: the in-buffer decoder must match json.loads exactly.
    text = json.dumps({"other": "caf\u00e9 \U0001f600", "jwt_key": pem.decode()}, ensure_ascii=True)
    text = text.replace("/", "\\/")
    sm.create_secret(Name=secret_name, SecretString=text)
    assert fetched(aws_host, f"aws-sm:{secret_name}#jwt_key") == pem


def test_secret_binary_pem_and_json(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretBinary=pem)
    assert fetched(aws_host, f"aws-sm:{secret_name}") == pem
    sm.create_secret(Name=secret_name + "-json", SecretBinary=json.dumps({"private_key": pem.decode()}).encode())
    assert fetched(aws_host, f"aws-sm:{secret_name}-json") == pem


def test_full_arn_gives_the_region(
    aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes, monkeypatch: Any
) -> None:
    arn = sm.create_secret(Name=secret_name, SecretString=pem.decode())["ARN"]
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert fetched(aws_host, f"aws-sm:{arn}") == pem
    assert next(iter(clients._clients))[:2] == ("secretsmanager", "us-east-1")


def test_region_option_wins(aws_host: PluginHost, pem: bytes, secret_name: str, aws_env: str) -> None:
    import boto3

    other = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=aws_env)
    other.create_secret(Name=secret_name, SecretString=pem.decode())
    assert fetched(aws_host, f"aws-sm:{secret_name}?region=eu-west-1") == pem
    with pytest.raises(KeyBackendError, match="not found"):
        fetched(aws_host, f"aws-sm:{secret_name}")  # the default region is us-east-1


def test_aws_endpoint_url_is_honoured_by_boto3(aws_host: PluginHost, monkeypatch: Any) -> None:
    # With AWS_ENDPOINT_URL pointing nowhere the call fails to connect: botocore used the variable.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(TransientError, match="could not reach the AWS endpoint") as info:
        fetched(aws_host, "aws-sm:anything")
    assert "127.0.0.1:9" in info.value.message


def test_stages_after_rotation_and_pinned_version(
    aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes, second_key: rsa.RSAPrivateKey
) -> None:
    first = sm.create_secret(Name=secret_name, SecretString=pem.decode())["VersionId"]
    new_pem = pem_of(second_key)
    sm.put_secret_value(SecretId=secret_name, SecretString=new_pem.decode())
    assert fetched(aws_host, f"aws-sm:{secret_name}") == new_pem
    assert fetched(aws_host, f"aws-sm:{secret_name}?version_stage=AWSCURRENT") == new_pem
    assert fetched(aws_host, f"aws-sm:{secret_name}?version_stage=AWSPREVIOUS") == pem
    assert fetched(aws_host, f"aws-sm:{secret_name}?version_id={first}") == pem


def test_previous_key_ref(aws_host: PluginHost) -> None:
    previous = aws_host.previous_key_ref(KeyRef.parse("aws-sm:prod/sf?region=eu-west-1#pk"))
    assert previous is not None
    assert previous.options == {"region": "eu-west-1", "version_stage": "AWSPREVIOUS"}
    assert previous.fragment == "pk" and previous.path == "prod/sf"
    assert KeyRef.parse(str(previous)) == previous
    assert aws_host.previous_key_ref(previous) is None
    assert aws_host.previous_key_ref(KeyRef.parse("aws-sm:prod/sf?version_id=abc")) is None
    assert aws_host.previous_key_ref(KeyRef.parse("aws-kms:alias/x")) is None


def test_get_secret_value_sends_awscurrent_explicitly() -> None:
    assert parse_secret_ref(KeyRef.parse("aws-sm:x")).request == {"SecretId": "x", "VersionStage": "AWSCURRENT"}
    assert parse_secret_ref(KeyRef.parse("aws-sm:x?version_id=v")).request == {"SecretId": "x", "VersionId": "v"}


def test_body_capture_keeps_secret_out_of_botocore(
    sm: Any, secret_name: str, pem: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """The hook takes the value from the raw body; botocore's parsed response and DEBUG log never see it."""
    sm.create_secret(Name=secret_name, SecretString=json.dumps({"private_key": pem.decode()}))
    client = clients.get_client("secretsmanager", "us-east-1", secretsmanager._install_capture)
    sref = parse_secret_ref(KeyRef.parse(f"aws-sm:{secret_name}"))
    seen: list[dict[str, Any]] = []
    client.meta.events.register("after-call.secrets-manager.GetSecretValue", lambda parsed, **_: seen.append(parsed))
    caplog.set_level(logging.DEBUG, logger="botocore")
    buffer, binary = secretsmanager._get_secret(client, sref, "us-east-1")
    with buffer:
        assert not binary
        assert json.loads(bytes(buffer.view()))["private_key"] == pem.decode()
    assert seen and seen[0]["SecretString"] == "" and seen[0]["Name"] == secret_name
    assert "BEGIN PRIVATE KEY" not in caplog.text
    assert "MII" not in caplog.text


def test_fallback_without_hook_gives_same_key(sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem.decode())
    response = sm.get_secret_value(SecretId=secret_name)
    buffer, binary = secretsmanager._from_parsed(response, parse_secret_ref(KeyRef.parse(f"aws-sm:{secret_name}")))
    with buffer:
        assert bytes(buffer.view()) == pem and not binary
    buffer, binary = secretsmanager._from_parsed({"SecretBinary": pem}, parse_secret_ref(KeyRef.parse("aws-sm:x")))
    with buffer:
        assert bytes(buffer.view()) == pem and binary


def test_json_field_decoded_in_place_and_tail_wiped(sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretString=json.dumps({"private_key": pem.decode(), "tail": "T" * 50}))
    buffer = secretsmanager.fetch_key(KeyRef.parse(f"aws-sm:{secret_name}"))
    assert bytes(buffer.view()) == pem
    assert set(bytes(buffer._buf[len(buffer) :])) <= {0}  # nothing of the JSON is left past the PEM
    buffer.wipe()
    assert set(bytes(buffer._buf)) == {0}


# --- errors ------------------------------------------------------------------------------------


def test_not_found(aws_host: PluginHost) -> None:
    with pytest.raises(KeyBackendError) as info:
        fetched(aws_host, "aws-sm:does/not/exist")
    assert "not found" in info.value.message and "does/not/exist" in info.value.message
    assert "region" in (info.value.hint or "")


def test_missing_version_stage(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem.decode())
    with pytest.raises(KeyBackendError, match="not found"):
        fetched(aws_host, f"aws-sm:{secret_name}?version_stage=AWSPREVIOUS")


def test_missing_field_lists_names_not_values(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretString=json.dumps({"key": pem.decode(), "password": "hunter2-secret"}))
    with pytest.raises(KeyBackendError) as info:
        fetched(aws_host, f"aws-sm:{secret_name}")
    text = str(info.value)
    assert "'key'" in text and "'password'" in text and "private_key" in text
    assert "hunter2" not in text and "BEGIN" not in text


def test_value_not_a_pem(aws_host: PluginHost, sm: Any, secret_name: str) -> None:
    sm.create_secret(Name=secret_name, SecretString="not-a-key-s3cr3t")
    with pytest.raises(KeyFormatError, match="does not hold a PEM") as info:
        fetched(aws_host, f"aws-sm:{secret_name}")
    assert "s3cr3t" not in str(info.value)
    sm.create_secret(Name=secret_name + "-j", SecretString=json.dumps({"private_key": "s3cr3t"}))
    with pytest.raises(KeyFormatError, match="does not hold a PEM") as info:
        fetched(aws_host, f"aws-sm:{secret_name}-j")
    assert "s3cr3t" not in str(info.value)


def test_field_on_plain_pem_and_non_string_field(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem.decode())
    with pytest.raises(KeyBackendError, match="not a JSON object"):
        fetched(aws_host, f"aws-sm:{secret_name}#private_key")
    sm.create_secret(Name=secret_name + "-n", SecretString='{"private_key": 42}')
    with pytest.raises(KeyFormatError, match="not a string"):
        fetched(aws_host, f"aws-sm:{secret_name}-n")


def test_deleted_secret(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem.decode())
    sm.delete_secret(SecretId=secret_name)
    with pytest.raises(KeyBackendError) as info:
        fetched(aws_host, f"aws-sm:{secret_name}")
    assert "restore-secret" in (info.value.hint or "")


def test_unknown_option_and_wrong_arn(aws_host: PluginHost) -> None:
    with pytest.raises(ConfigurationError, match="unknown option"):
        fetched(aws_host, "aws-sm:x?stage=AWSCURRENT")
    with pytest.raises(ConfigurationError, match="kms ARN"):
        fetched(aws_host, "aws-sm:arn:aws:kms:us-east-1:123456789012:key/abc")


def test_aws_region_variable(
    aws_host: PluginHost, pem: bytes, secret_name: str, aws_env: str, monkeypatch: Any
) -> None:
    import boto3

    boto3.client("secretsmanager", region_name="eu-central-1", endpoint_url=aws_env).create_secret(
        Name=secret_name, SecretString=pem.decode()
    )
    monkeypatch.setenv("AWS_REGION", "eu-central-1")  # botocore alone reads only AWS_DEFAULT_REGION
    assert fetched(aws_host, f"aws-sm:{secret_name}") == pem


def test_no_region(aws_host: PluginHost, monkeypatch: Any) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError, match="no AWS region") as info:
        fetched(aws_host, "aws-sm:x")
    assert "AWS_REGION" in (info.value.hint or "")


def test_no_credentials(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes, monkeypatch: Any) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem.decode())
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(KeyBackendError, match="no usable AWS credentials") as info:
        fetched(aws_host, f"aws-sm:{secret_name}")
    assert "AWS_PROFILE" in (info.value.hint or "")
    # The credential-less client was dropped: fixing the environment fixes the next call.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert fetched(aws_host, f"aws-sm:{secret_name}") == pem


def test_client_reused_per_service_region_endpoint(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem.decode())
    fetched(aws_host, f"aws-sm:{secret_name}")
    first = dict(clients._clients)
    fetched(aws_host, f"aws-sm:{secret_name}")
    assert len(first) == 1 and clients._clients == first
    assert next(iter(clients._clients.values())) is next(iter(first.values()))


def test_importing_the_plugin_does_not_import_boto3() -> None:
    code = (
        "import sys, sfjwt_vault, sfjwt_vault_aws; assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_binary_capture_decodes_base64(sm: Any, secret_name: str) -> None:
    blob = bytes(range(256)) * 3
    sm.create_secret(Name=secret_name, SecretBinary=blob)
    client = clients.get_client("secretsmanager", "us-east-1", secretsmanager._install_capture)
    buffer, binary = secretsmanager._get_secret(
        client, parse_secret_ref(KeyRef.parse(f"aws-sm:{secret_name}")), "us-east-1"
    )
    with buffer:
        assert binary and bytes(buffer.view()) == blob
    assert base64.b64encode(blob)  # the body carried base64; the buffer holds the raw bytes


@pytest.mark.parametrize("ref", ["aws-sm:prod/sf?region=eu_west_1", "aws-kms:alias/sf?region=eu west 1"])
def test_a_bad_region_option_is_a_configuration_error(ref: str, aws_host: PluginHost) -> None:
    """botocore would raise InvalidRegionError (a ValueError): "unexpected" and exit 1 in the CLI."""
    with pytest.raises(ConfigurationError, match="not an AWS region name") as info:
        with open_signer(ref, aws_host) as signer:
            signer.sign(b"x")
    assert info.value.exit_code == 2 and "eu-west-1" in (info.value.hint or "")


def test_a_bad_region_from_the_environment_names_the_variable(aws_host: PluginHost, monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_REGION", "eu_west_1")
    with pytest.raises(ConfigurationError, match="AWS_REGION 'eu_west_1'"):
        fetched(aws_host, "aws-sm:prod/sf")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "-bad-")
    with pytest.raises(ConfigurationError, match="AWS_DEFAULT_REGION"):
        fetched(aws_host, "aws-sm:prod/sf")


def test_cli_bad_region_exits_2_with_a_hint(
    aws_host: PluginHost, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import sfjwt_vault.plugins
    from sfjwt_vault.cli import main

    monkeypatch.setattr(sfjwt_vault.plugins, "_host", aws_host)
    monkeypatch.setenv("SF_CONSUMER_KEY", "3MVGkey")
    monkeypatch.setenv("SF_USERNAME", "u@acme.com")
    assert main(["token", "--key", "aws-sm:prod/sf?region=eu_west-1"]) == 2
    err = capsys.readouterr().err
    assert "not an AWS region name" in err and "hint:" in err and "unexpected" not in err


def test_kms_refuses_options_it_cannot_use(aws_host: PluginHost) -> None:
    """passphrase_env means nothing for a key that never leaves KMS: a leftover or a typo, refused."""
    for ref in ("aws-kms:alias/sf?passphrase_env=PW", "aws-kms:alias/sf?regoin=eu-west-1"):
        with pytest.raises(ConfigurationError, match="unknown option"):
            with open_signer(ref, aws_host) as signer:
                signer.sign(b"x")


@pytest.mark.parametrize("region_env", [None, "us-east-1"])
def test_a_missing_aws_profile_is_a_configuration_error(
    region_env: str | None, aws_host: PluginHost, monkeypatch: Any
) -> None:
    """botocore raises ProfileNotFound (while resolving the region, or making the client): was "unexpected"."""
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    if region_env:
        monkeypatch.setenv("AWS_REGION", region_env)
    with pytest.raises(ConfigurationError, match="'no-such-profile'") as info:
        fetched(aws_host, "aws-sm:prod/sf")
    assert "AWS_PROFILE" in (info.value.hint or "")


def test_base64_decoding_never_holds_the_secret_in_one_int() -> None:
    """A SecretBinary is decoded from the raw JSON body a byte at a time. The accumulator keeps only
    the bits not written out yet: it used to grow to the whole secret (one Python int per step, each
    freed unwiped, and quadratic work). tracemalloc sees any int the size of the secret."""
    import base64
    import tracemalloc

    from sfjwt_vault_aws.jsonscan import decode_base64

    secret = bytes(range(256)) * 64  # 16 KiB
    encoded = base64.b64encode(secret)
    out = bytearray(len(secret))
    tracemalloc.start()
    try:
        written = decode_base64(encoded, 0, len(encoded), memoryview(out))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == len(secret) and bytes(out) == secret
    assert peak < len(secret) // 8, f"{peak} bytes allocated while decoding"
