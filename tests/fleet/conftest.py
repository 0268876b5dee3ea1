"""Fleet tests: the shared token cache on a real moto server (DynamoDB + KMS) and a real OpenBao.

The environment fixtures are the AWS and Vault suites' own (imported, not copied): `aws_env` (fake
credentials, AWS_ENDPOINT_URL at moto, fresh clients) and `bao` + `clean_env` (no caller Vault
variables, no real ~/.vault-token). Only `moto_url` is overridden here: the fleet tests need a moto
that serves one request at a time (see serial_moto.py), so a threaded CI server is not reused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sfjwt_vault_aws
import sfjwt_vault_file
import sfjwt_vault_hashicorp

from sfjwt_vault.plugins import PluginHost
from tests.aws.conftest import _client, aws_env  # noqa: F401 - fixtures reused
from tests.fleet.serial_moto import start_serial_moto
from tests.servers import stop
from tests.vault.conftest import Bao, bao, clean_env  # noqa: F401 - fixtures reused

TRANSIT_KEY = "sfjwt-cache"


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Overrides tests/aws's server for `aws_env`: conditional writes must be atomic, as in DynamoDB."""
    url, process = start_serial_moto(tmp_path_factory.mktemp("serial-moto"))
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture
def fleet_host() -> PluginHost:
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file")
    host.register(sfjwt_vault_aws, "aws")
    host.register(sfjwt_vault_hashicorp, "vault")
    return host


@pytest.fixture
def dynamo(aws_env: str) -> Any:  # noqa: F811 - the imported fixture
    return _client("dynamodb", aws_env)


@pytest.fixture
def dynamodb_cache(aws_env: str, dynamo: Any) -> str:  # noqa: F811 - the imported fixture
    """A fresh table (as the Terraform module makes it) and a symmetric KMS key: the cache reference."""
    table = f"sfjwt-cache-{uuid.uuid4().hex[:8]}"
    dynamo.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamo.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl_epoch"})
    key_id = _client("kms", aws_env).create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"][
        "KeyId"
    ]
    return f"dynamodb:{table}?kms_key={key_id}&region=us-east-1"


@pytest.fixture
def vault_cache(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # noqa: F811
    """VAULT_ADDR/VAULT_TOKEN at the dev server, a derived aes256-gcm96 Transit key, a fresh KV prefix."""
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    bao.admin().write(f"transit/keys/{TRANSIT_KEY}", type="aes256-gcm96", derived=True)
    yield f"vault-kv:secret/fleet-{uuid.uuid4().hex[:8]}?transit=transit/{TRANSIT_KEY}"


@pytest.fixture(params=["dynamodb", "vault"])
def cache_url(request: pytest.FixtureRequest) -> str:
    """Each fleet test runs on both stores."""
    return str(request.getfixturevalue(f"{request.param}_cache"))
