"""No key, assertion or access token in any output on every backend's SUCCESS path.

The error paths are in test_no_secret_output.py. A success path leaks differently: the SDKs log whole
request and response bodies at DEBUG, and on success those hold the secret (a KMS `Sign` request holds
the signing input and its answer the signature: joined, a valid assertion). So every backend is run to
a token with the root logger and every library logger at DEBUG, against the real moto server and
OpenBao dev server:

    file, aws-sm (SecretString PEM, JSON field, SecretBinary), aws-kms, vault KV v2 and v1,
    vault-transit, the DynamoDB and the Vault shared token caches (a token stored, then read by a
    second process-like client), keygen --store aws-sm and vault

in-process through the library, through `sfjwt --debug token` and `sfjwt --debug doctor`, and in a
fresh interpreter (`python -m sfjwt_vault.cli --debug ...`, whose first SDK calls create the loggers).
The assertions and tokens are recorded on the wire by a proxy in front of the emulator, and all output
is searched for them and for the key in every encoding they take (tests/hygiene/needles.py).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization

from sfjwt_vault import Credentials, cli, plugins
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.keys import open_signer
from sfjwt_vault.testing import SalesforceEmulator, make_test_keypair
from tests.conftest import write_key
from tests.hygiene.conftest import ROOT, Stores, reset_plugin_state, use_stores, with_cloud_plugins
from tests.hygiene.needles import Secrets
from tests.hygiene.recorder import RecordingProxy


class Case(NamedTuple):
    key: str  # the key reference
    consumer_key: str
    shared_cache: str | None = None


@dataclass
class World:
    """The emulator behind a recording proxy, the stores' settings, the key, and one Case per backend."""

    emulator: SalesforceEmulator
    proxy: RecordingProxy
    env: dict[str, str]
    pem: bytes
    cases: dict[str, Case] = field(default_factory=dict)

    def secrets(self, since: tuple[int, int], *, access_tokens: bool = True) -> Secrets:
        """The key, the Vault token, and the assertions and access tokens that crossed the wire after
        `since` (see `mark`); without the access tokens for the output of `sfjwt token`."""
        found = Secrets([self.pem])
        found.assertions = self.proxy.assertions[since[0] :]
        found.tokens = [*(self.proxy.tokens[since[1] :] if access_tokens else []), self.env["VAULT_TOKEN"]]
        return found

    def mark(self) -> tuple[int, int]:
        return len(self.proxy.assertions), len(self.proxy.tokens)


def _stores_env(env: dict[str, str]) -> Any:
    """The stores' settings in os.environ, for arranging test data at module scope."""
    cleared = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VAULT_", "BAO_", "SFJWT_"))}
    return mock.patch.dict(os.environ, {**cleared, **env}, clear=True)


def _remote_app(emulator: SalesforceEmulator, ref: str, host: plugins.PluginHost) -> str:
    """An app whose certificate the remote signer itself made: only KMS/Transit hold that key."""
    with open_signer(ref, host) as signer:
        certificate = certificate_pem(self_signed_certificate(signer, common_name="hygiene"))
    return emulator.add_app(certificate).consumer_key


def _arrange(world: World, tmp: Path) -> None:
    """Put the key where each backend reads it, make the remote keys and the cache stores. The SDK
    calls here carry the key on purpose and are not the code under test: logging is off for them."""
    import boto3
    import hvac

    host = with_cloud_plugins()
    tag = uuid.uuid4().hex[:10]
    pem = world.pem.decode()
    consumer = world.emulator.apps[0].consumer_key
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name=f"hyg-ok/{tag}/pem", SecretString=pem)
    sm.create_secret(Name=f"hyg-ok/{tag}/json", SecretString=json.dumps({"note": "n", "jwt_key": pem}))
    sm.create_secret(Name=f"hyg-ok/{tag}/bin", SecretBinary=world.pem)
    kms = boto3.client("kms")
    sign_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    cache_key = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    table = f"hyg-ok-{tag}"
    boto3.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    vault = hvac.Client(url=world.env["VAULT_ADDR"], token=world.env["VAULT_TOKEN"])
    if "kv1/" not in vault.sys.list_mounted_secrets_engines()["data"]:
        vault.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    vault.secrets.kv.v2.create_or_update_secret(f"hyg-ok/{tag}", {"private_key": pem}, mount_point="secret")
    vault.secrets.kv.v1.create_or_update_secret(f"hyg-ok/{tag}", {"private_key": pem}, mount_point="kv1")
    vault.write(f"transit/keys/hyg-ok-{tag}", type="rsa-2048")
    vault.write(f"transit/keys/hyg-cache-{tag}", type="aes256-gcm96", derived=True)

    world.cases.update(
        {
            "file": Case(f"file:{write_key(tmp / 'key.pem', world.pem)}", consumer),
            "aws-sm": Case(f"aws-sm:hyg-ok/{tag}/pem", consumer),
            "aws-sm-json": Case(f"aws-sm:hyg-ok/{tag}/json#jwt_key", consumer),
            "aws-sm-binary": Case(f"aws-sm:hyg-ok/{tag}/bin", consumer),
            "aws-kms": Case(f"aws-kms:{sign_key}", _remote_app(world.emulator, f"aws-kms:{sign_key}", host)),
            "vault-kv2": Case(f"vault:secret/hyg-ok/{tag}", consumer),
            "vault-kv1": Case(f"vault:kv1/hyg-ok/{tag}", consumer),
            "vault-transit": Case(
                f"vault-transit:transit/hyg-ok-{tag}",
                _remote_app(world.emulator, f"vault-transit:transit/hyg-ok-{tag}", host),
            ),
        }
    )
    file_key = world.cases["file"].key
    world.cases["dynamodb-cache"] = Case(file_key, consumer, f"dynamodb:{table}?kms_key={cache_key}")
    world.cases["vault-kv-cache"] = Case(
        file_key, consumer, f"vault-kv:secret/hyg-cache-{tag}?transit=transit/hyg-cache-{tag}"
    )


@pytest.fixture(scope="module")
def world(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    key, certificate = make_test_keypair()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with SalesforceEmulator() as emulator, RecordingProxy(emulator.base_url) as proxy:
        emulator.add_app(certificate)
        made = World(emulator, proxy, dict(stores.env), pem)
        logging.disable(logging.CRITICAL)
        try:
            with _stores_env(made.env):
                reset_plugin_state()
                _arrange(made, tmp_path_factory.mktemp("hygiene-success"))
                reset_plugin_state()
        finally:
            logging.disable(logging.NOTSET)
        yield made


@pytest.fixture
def user(world: World) -> str:
    """A user of its own per test: no token cached by an earlier test (in process or in a store) is reused."""
    return world.emulator.add_user(f"hyg-{uuid.uuid4().hex[:10]}@acme.com").username


@pytest.fixture
def in_env(
    world: World, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[plugins.PluginHost]:
    """The stores' settings in the environment, fresh plugin state, and a host with all three plugins,
    which is also the CLI's process-wide host."""
    for name in list(os.environ):
        if name.startswith(("SFJWT_", "SF_")):
            monkeypatch.delenv(name)
    host = use_stores(world.env, monkeypatch, request)
    monkeypatch.setattr(plugins, "_host", host)
    yield host


@dataclass
class Output:
    """Everything a run printed or logged: the DEBUG log of every logger, pytest's capture, stdout/stderr."""

    debug_log: io.StringIO
    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture[str]

    def texts(self) -> dict[str, str]:
        out, err = self.capsys.readouterr()
        return {
            "stdout": out,
            "stderr": err,
            "log handler": self.debug_log.getvalue(),
            "caplog": self.caplog.text + repr([r.__dict__ for r in self.caplog.records]),
        }


@pytest.fixture
def output(debug_log: io.StringIO, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Output:
    caplog.set_level(logging.DEBUG)
    return Output(debug_log, caplog, capsys)


CASES = [
    "file",
    "aws-sm",
    "aws-sm-json",
    "aws-sm-binary",
    "aws-kms",
    "vault-kv2",
    "vault-kv1",
    "vault-transit",
    "dynamodb-cache",
    "vault-kv-cache",
]
KEY_CASES = [name for name in CASES if not name.endswith("-cache")]


def _credentials(world: World, case: Case, user: str, host: plugins.PluginHost) -> Credentials:
    return Credentials(
        case.consumer_key,
        user,
        case.key,
        audience=world.emulator.audience,
        token_url=world.proxy.token_url,
        cache=TokenCache(),
        plugin_host=host,
        shared_cache=case.shared_cache,
    )


def _cli_env(world: World, case: Case, user: str) -> dict[str, str]:
    env = {
        "SF_CONSUMER_KEY": case.consumer_key,
        "SF_USERNAME": user,
        "SFJWT_KEY": case.key,
        "SF_AUDIENCE": world.emulator.audience,
        "SF_TOKEN_URL": world.proxy.token_url,
    }
    if case.shared_cache:
        env["SFJWT_TOKEN_CACHE"] = case.shared_cache
    return env


def _check_all(found: Secrets, where: dict[str, str]) -> None:
    found.assert_recorded()
    for name, text in where.items():
        found.check(name, text)


@pytest.mark.parametrize("name", CASES)
def test_library_success_leaks_nothing(
    name: str, world: World, user: str, in_env: plugins.PluginHost, output: Output
) -> None:
    case = world.cases[name]
    since = world.mark()
    creds = _credentials(world, case, user, in_env)
    token = creds.get_token()
    reprs = [repr(creds), repr(token)]
    if case.shared_cache:
        # A second client with its own local cache reads the stored token: the decrypt path.
        other = _credentials(world, case, user, in_env)
        assert other.get_token().access_token == token.access_token
        assert len(world.proxy.tokens) == since[1] + 1, "the second client minted: the store was not read"
        reprs.append(repr(other))
    texts = output.texts()
    assert "sfjwt_vault" in texts["log handler"], "debug logging was off: the check would be vacuous"
    _check_all(world.secrets(since), {**texts, "reprs": " ".join(reprs)})


# doctor exchanges on a private token cache, so the shared-cache cases are `token` only
CLI = [*((name, "token") for name in CASES), *((name, "doctor") for name in KEY_CASES)]


@pytest.mark.parametrize(("name", "command"), CLI)
def test_cli_debug_success_leaks_nothing(
    name: str,
    command: str,
    world: World,
    user: str,
    in_env: plugins.PluginHost,
    output: Output,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = world.cases[name]
    for var, value in _cli_env(world, case, user).items():
        monkeypatch.setenv(var, value)
    since = world.mark()
    code = cli.main(["--debug", command])
    texts = output.texts()
    assert code == 0, texts["stderr"][-2000:]
    found = world.secrets(since)
    if command == "token":
        assert found.tokens[0] in texts["stdout"]  # the command's output is the one place the token appears
    world.secrets(since, access_tokens=command != "token").check("stdout", texts.pop("stdout"))
    _check_all(found, texts)


def _run_fresh(world: World, env: dict[str, str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    """`sfjwt --debug ...` in a fresh interpreter: the SDKs' loggers are created by this run's calls."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_", "AWS_", "VAULT_", "BAO_"))}
    child.update(world.env)
    child.update(env)
    child["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins")])
    return subprocess.run(
        [sys.executable, "-m", "sfjwt_vault.cli", "--debug", *argv],
        cwd=ROOT,
        env=child,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


FRESH = [*((name, "token") for name in CASES), ("aws-kms", "doctor"), ("vault-transit", "doctor")]


@pytest.mark.parametrize(("name", "command"), FRESH)
def test_fresh_process_cli_debug_leaks_nothing(name: str, command: str, world: World, user: str) -> None:
    case = world.cases[name]
    since = world.mark()
    result = _run_fresh(world, _cli_env(world, case, user), [command])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DEBUG" in result.stderr, "--debug logged nothing: the check would be vacuous"
    found = world.secrets(since)
    found.assert_recorded()
    found.check("stderr", result.stderr)
    world.secrets(since, access_tokens=command != "token").check("stdout", result.stdout)


# -- keygen --store: the new key goes into the store; it must not appear anywhere ------------------


def _stored_pem(world: World, ref: str) -> bytes:
    """Read back what keygen stored (arranging code, logging off)."""
    import boto3
    import hvac

    logging.disable(logging.CRITICAL)
    try:
        with _stores_env(world.env):
            if ref.startswith("aws-sm:"):
                value = boto3.client("secretsmanager").get_secret_value(
                    SecretId=ref.removeprefix("aws-sm:"), VersionStage="AWSCURRENT"
                )
                return str(value["SecretString"]).encode()
            path = ref.removeprefix("vault:secret/")
            vault = hvac.Client(url=world.env["VAULT_ADDR"], token=world.env["VAULT_TOKEN"])
            data = vault.secrets.kv.v2.read_secret_version(path, mount_point="secret", raise_on_deleted_version=True)
            return str(data["data"]["data"]["private_key"]).encode()
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("fresh", [False, True], ids=["in-process", "fresh-process"])
@pytest.mark.parametrize("store", ["aws-sm", "vault"])
def test_keygen_store_leaks_nothing(
    store: str, fresh: bool, world: World, in_env: plugins.PluginHost, output: Output, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    ref = f"aws-sm:hyg-keygen/{tag}" if store == "aws-sm" else f"vault:secret/hyg-keygen/{tag}"
    argv = ["keygen", "--store", ref, "--cert-out", str(tmp_path / "app.crt")]
    if fresh:
        result = _run_fresh(world, {}, argv)
        code, texts = result.returncode, {"stdout": result.stdout, "stderr": result.stderr}
    else:
        code = cli.main(["--debug", *argv])
        texts = output.texts()
    assert code == 0, texts["stderr"][-2000:]
    stored = _stored_pem(world, ref)
    assert stored.startswith(b"-----BEGIN") and stored != world.pem
    found = Secrets([stored])
    found.tokens.append(world.env["VAULT_TOKEN"])
    for where, text in {**texts, "certificate": (tmp_path / "app.crt").read_text()}.items():
        found.check(where, text)


# -- the checks themselves --------------------------------------------------------------------------


def test_the_search_finds_every_encoding() -> None:
    """Each encoding a leak can take is found: the checks above would fail on any of them."""
    key, certificate = make_test_keypair()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assertion = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIzTVZHOWtleSIsInN1YiI6InVAYWNtZS5jb20iLCJleHAiOjE3MDAwMDAwMDB9." + (
        base64.urlsafe_b64encode(bytes(range(256))).decode().rstrip("=")
    )
    signing_input, _, signature_part = assertion.rpartition(".")
    signature = base64.urlsafe_b64decode(signature_part + "==")
    found = Secrets([pem])
    found.assertions.append(assertion)
    found.tokens.append("00Dxx0000001gPL!AR8AQJXg5oP8Hn3zRl3xHQ7YQx5WHN8Fkn1Jm0DbTK8P")
    pem_line = pem.decode().splitlines()[8]  # DER bytes 336-384: inside d (which starts near byte 303)
    der = base64.b64decode("".join(pem.decode().splitlines()[1:-1]))
    leaks = {
        "PEM line": f"key={pem_line[5:40]}",
        "DER hex": f"der={der.hex()[700:740]}",
        "DER base64 at an offset": base64.b64encode(der[401:]).decode()[:40],
        "claims segment": signing_input.split(".")[1][:40],
        "signature segment": signature_part[50:90],
        # botocore's DEBUG lines for a KMS Sign: the message and the signature, standard base64
        "signing input, base64": "'Message': b'" + base64.b64encode(signing_input.encode()).decode()[:40],
        "signing input, base64 at an offset": base64.b64encode(b"xx" + signing_input.encode()).decode()[8:48],
        "signature, base64": '"Signature": "' + base64.b64encode(signature).decode()[20:60],
        "signature, hex": signature.hex()[10:50],
        "signature, HEX": signature.hex().upper()[10:50],
        "token": "Bearer 00Dxx0000001gPL!AR8AQJXg5oP8",
        "token, base64 in a KMS plaintext": base64.b64encode(
            b'{"access_token": "00Dxx0000001gPL!AR8AQJXg5oP8Hn3zRl3xHQ7YQx5WHN8Fkn1Jm0DbTK8P"}'
        ).decode()[30:70],
    }
    for kind, text in leaks.items():
        with pytest.raises(AssertionError, match="a secret appears"):
            found.check(kind, text)
    found.check("a harmless line", "INFO sfjwt_vault token for u@acme.com from the shared cache")
    # The public half is not a secret: the certificate keygen and cert print, and the public key in any
    # encoding, must pass (the modulus sits at a different byte alignment in each).
    public = key.public_key()
    for shown in (
        certificate.decode(),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode(),
        f"{public.public_numbers().n:x}",
    ):
        found.check("the public half", shown)
