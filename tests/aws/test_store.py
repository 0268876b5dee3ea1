"""sfjwt_store_key for aws-sm: create, new version (AWSCURRENT/AWSPREVIOUS), JSON field, refusals."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sfjwt_vault import ConfigurationError, KeyBackendError, KeyRef, SecretBuffer
from sfjwt_vault.plugins import PluginHost
from tests.conftest import pem_of


def store(host: PluginHost, ref: str, pem: bytes, overwrite: bool = False) -> str:
    with SecretBuffer.from_buffer(pem) as buffer:
        return host.store_key(KeyRef.parse(ref), buffer, overwrite=overwrite)


def test_create_then_rotate(
    aws_host: PluginHost,
    sm: Any,
    secret_name: str,
    pem: bytes,
    second_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    created = store(aws_host, f"aws-sm:{secret_name}", pem)
    # botocore logs request bodies at DEBUG; the plugin keeps its own calls' bodies out of the log.
    assert "PRIVATE KEY" not in caplog.text and "Making request" not in caplog.text
    assert "secretsmanager" in caplog.text  # DEBUG logging was really on
    assert created.startswith("created secret") and "AWSCURRENT" in created
    assert sm.get_secret_value(SecretId=secret_name, VersionStage="AWSCURRENT")["SecretString"] == pem.decode()

    new_pem = pem_of(second_key)
    caplog.clear()
    message = store(aws_host, f"aws-sm:{secret_name}", new_pem)
    assert "PRIVATE KEY" not in caplog.text and "PRIVATE KEY" not in message
    version = sm.get_secret_value(SecretId=secret_name, VersionStage="AWSCURRENT")
    assert version["SecretString"] == new_pem.decode()
    assert message == (
        f"new version {version['VersionId']} of {secret_name}, staged AWSCURRENT; previous version staged AWSPREVIOUS"
    )
    assert sm.get_secret_value(SecretId=secret_name, VersionStage="AWSPREVIOUS")["SecretString"] == pem.decode()


def test_store_into_json_field(aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes) -> None:
    store(aws_host, f"aws-sm:{secret_name}#jwt_key", pem)
    value = json.loads(sm.get_secret_value(SecretId=secret_name, VersionStage="AWSCURRENT")["SecretString"])
    assert value == {"jwt_key": pem.decode()}
    with aws_host.fetch_key(KeyRef.parse(f"aws-sm:{secret_name}#jwt_key")) as buffer:
        assert bytes(buffer.view()) == pem


def test_refuses_to_drop_other_fields_unless_overwrite(
    aws_host: PluginHost, sm: Any, secret_name: str, pem: bytes
) -> None:
    sm.create_secret(Name=secret_name, SecretString=json.dumps({"private_key": "old", "api_password": "pw-value"}))
    with pytest.raises(KeyBackendError, match="other fields") as info:
        store(aws_host, f"aws-sm:{secret_name}#private_key", pem)
    assert "'api_password'" in info.value.message and "pw-value" not in str(info.value)
    assert "overwrite" in (info.value.hint or "")
    store(aws_host, f"aws-sm:{secret_name}#private_key", pem, overwrite=True)
    assert json.loads(sm.get_secret_value(SecretId=secret_name)["SecretString"]) == {"private_key": pem.decode()}


def test_refuses_pinned_versions(aws_host: PluginHost, pem: bytes) -> None:
    for ref in ("aws-sm:x?version_id=abc", "aws-sm:x?version_stage=AWSPREVIOUS"):
        with pytest.raises(ConfigurationError, match="pins a version"):
            store(aws_host, ref, pem)


def test_kms_refs_cannot_store(aws_host: PluginHost, pem: bytes) -> None:
    with pytest.raises(KeyBackendError, match="cannot store keys"):
        store(aws_host, "aws-kms:alias/x", pem)
