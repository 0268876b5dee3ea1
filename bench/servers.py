"""The AWS (moto) and Vault (OpenBao) servers the backend benchmarks read keys from and sign with.

Started the way the test fixtures start them, with the same code: `tests/servers.py` (the one home of
that start logic; the benchmark imports it from the checkout, like it imports `bench`). A running
server is reused when SFJWT_TEST_MOTO_URL / SFJWT_TEST_BAO_ADDR + SFJWT_TEST_BAO_TOKEN are set; else
moto_server and `bao server -dev` (HOME in a temporary folder, explicit root token) are started on free
loopback ports and stopped at the end.

While the context is open the plugins' settings (AWS_* with fake credentials and AWS_ENDPOINT_URL at
moto, no ~/.aws; VAULT_ADDR/VAULT_TOKEN) are in os.environ; they are restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import DevServer, start_dev_server, start_moto, stop, wait_until_up

REGION = "us-east-1"
TRANSIT_MOUNT = "transit"
KV_MOUNT = "secret"


@dataclass
class Backends:
    """Started servers, the settings the plugins need, the references, and plain SDK clients."""

    aws_env: dict[str, str]
    vault_env: dict[str, str]
    sm_ref: str
    kms_ref: str
    kv_ref: str
    transit_ref: str
    secret_id: str
    kms_key_id: str
    kv_path: str
    transit_key: str
    sm: Any  # boto3 secretsmanager client (the benchmark's own, not the plugin's)
    kms: Any
    vault: Any  # hvac.Client

    @property
    def env(self) -> dict[str, str]:
        return {**self.aws_env, **self.vault_env}


@contextlib.contextmanager
def started_backends(workdir: Path, key_pem: bytes) -> Iterator[Backends]:
    """moto and OpenBao, each holding `key_pem` as a secret and an RSA-2048 signing key of its own."""
    with contextlib.ExitStack() as stack:
        moto_url = stack.enter_context(_moto(workdir))
        bao_addr, bao_token = stack.enter_context(_bao(workdir))
        aws_env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        vault_env = {"VAULT_ADDR": bao_addr, "VAULT_TOKEN": bao_token, "HOME": str(workdir)}
        stack.enter_context(_environ(aws_env, vault_env))
        backends = _arrange(aws_env, vault_env, key_pem)
        yield backends


@contextlib.contextmanager
def _moto(workdir: Path) -> Iterator[str]:
    existing = os.environ.get("SFJWT_TEST_MOTO_URL")
    if existing:
        wait_until_up(existing.rstrip("/"))
        yield existing.rstrip("/")
        return
    url, process = start_moto(workdir)
    try:
        yield url
    finally:
        stop(process)


@contextlib.contextmanager
def _bao(workdir: Path) -> Iterator[tuple[str, str]]:
    addr, token = os.environ.get("SFJWT_TEST_BAO_ADDR"), os.environ.get("SFJWT_TEST_BAO_TOKEN")
    if addr and token:
        yield addr, token
        return
    home = workdir / "bao-home"
    home.mkdir()
    server: DevServer = start_dev_server(home)
    try:
        yield server.addr, server.token
    finally:
        server.stop()


@contextlib.contextmanager
def _environ(*settings: dict[str, str]) -> Iterator[None]:
    """Set the plugins' settings in os.environ (no other AWS_/VAULT_/BAO_ variable), restore after."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("AWS_", "VAULT_", "BAO_", "SFJWT_VAULT_")):
            del os.environ[name]
    for block in settings:
        os.environ.update(block)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _arrange(aws_env: dict[str, str], vault_env: dict[str, str], key_pem: bytes) -> Backends:
    import boto3
    import hvac

    suffix = uuid.uuid4().hex[:8]
    session = boto3.session.Session(
        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    sm = session.client("secretsmanager", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    kms = session.client("kms", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    secret_id = f"sfjwt-bench/{suffix}"
    sm.create_secret(Name=secret_id, SecretString=key_pem.decode("ascii"))
    kms_key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]

    vault = hvac.Client(url=vault_env["VAULT_ADDR"], token=vault_env["VAULT_TOKEN"])
    mounts = vault.sys.list_mounted_secrets_engines()["data"]
    if f"{KV_MOUNT}/" not in mounts:
        vault.sys.enable_secrets_engine("kv", path=KV_MOUNT, options={"version": "2"})
    if f"{TRANSIT_MOUNT}/" not in mounts:
        vault.sys.enable_secrets_engine("transit", path=TRANSIT_MOUNT)
    kv_path = f"sfjwt-bench/{suffix}"
    vault.secrets.kv.v2.create_or_update_secret(
        path=kv_path, secret={"private_key": key_pem.decode("ascii")}, mount_point=KV_MOUNT
    )
    transit_key = f"sfjwt-bench-{suffix}"
    vault.secrets.transit.create_key(name=transit_key, key_type="rsa-2048", mount_point=TRANSIT_MOUNT)
    return Backends(
        aws_env=aws_env,
        vault_env=vault_env,
        sm_ref=f"aws-sm:{secret_id}",
        kms_ref=f"aws-kms:{kms_key_id}",
        kv_ref=f"vault:{KV_MOUNT}/{kv_path}",
        transit_ref=f"vault-transit:{TRANSIT_MOUNT}/{transit_key}",
        secret_id=secret_id,
        kms_key_id=kms_key_id,
        kv_path=kv_path,
        transit_key=transit_key,
        sm=sm,
        kms=kms,
        vault=vault,
    )
