"""Fixtures for the AWS plugin: a real moto server process on 127.0.0.1, clean AWS settings, keys.

Set SFJWT_TEST_MOTO_URL to reuse a running server (CI starts one with tests/aws/start_moto.sh);
otherwise one is started on a free port for the session and stopped at the end. Every test gets fake
credentials, a region and AWS_ENDPOINT_URL pointing at moto, and never reads ~/.aws.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sfjwt_vault_aws
import sfjwt_vault_file
from cryptography.hazmat.primitives.asymmetric import rsa
from sfjwt_vault_aws import clients
from sfjwt_vault_aws import kms as kms_plugin
from sfjwt_vault_aws import ref as ref_module

from sfjwt_vault.plugins import PluginHost
from tests.conftest import pem_of
from tests.servers import start_moto, stop, wait_until_up

__all__ = ["REGION", "start_moto", "stop"]

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    existing = os.environ.get("SFJWT_TEST_MOTO_URL")
    if existing:
        wait_until_up(existing.rstrip("/"))
        yield existing.rstrip("/")
        return
    url, process = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(autouse=True)
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Fake credentials, a region, AWS_ENDPOINT_URL at moto; no ~/.aws; fresh client and key caches."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    clients.reset_clients()
    kms_plugin.reset_cache()
    ref_module._default_regions.clear()
    yield moto_url
    clients.reset_clients()
    kms_plugin.reset_cache()


@pytest.fixture
def aws_host() -> PluginHost:
    """A host with the file and AWS backends, registered the way entry points would be."""
    plugin_host = PluginHost(load_entry_points=False)
    plugin_host.register(sfjwt_vault_file, "file")
    plugin_host.register(sfjwt_vault_aws, "aws")
    return plugin_host


def _client(service: str, moto_url: str) -> Any:
    import boto3

    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def sm(aws_env: str) -> Any:
    """A plain boto3 Secrets Manager client for arranging test data (not the plugin's client)."""
    return _client("secretsmanager", aws_env)


@pytest.fixture
def kms(aws_env: str) -> Any:
    return _client("kms", aws_env)


@pytest.fixture
def secret_name() -> str:
    return f"sfjwt-test/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def second_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return pem_of(rsa_key)
