"""End to end against the Salesforce emulator: rotation fallback to AWSPREVIOUS, a KMS-signed assertion
accepted with the KMS-made certificate, and the Lambda example invoked twice in-process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import jwt
import pytest
import sfjwt_vault_aws
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sfjwt_vault_aws import clients

from sfjwt_vault import Credentials
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.errors import InvalidAssertionError
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost, get_host, reset_host
from sfjwt_vault.testing.emulator import SalesforceEmulator
from tests.conftest import pem_of

USERNAME = "integration@acme.com"
HANDLER = Path(__file__).resolve().parents[2] / "examples" / "lambda" / "handler.py"


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as running:
        running.add_user(USERNAME)
        yield running


def cert_for(key: rsa.RSAPrivateKey) -> bytes:
    from sfjwt_vault.signer import LocalSigner

    return certificate_pem(self_signed_certificate(LocalSigner(key)))


def credentials(emulator: SalesforceEmulator, consumer_key: str, key: str, host: PluginHost, **kw: Any) -> Credentials:
    return Credentials(
        consumer_key,
        USERNAME,
        key,
        audience=emulator.audience,
        token_url=emulator.token_url,
        plugin_host=host,
        cache=TokenCache(),
        **kw,
    )


@pytest.fixture
def rotated_secret(sm: Any, secret_name: str, rsa_key: rsa.RSAPrivateKey, second_key: rsa.RSAPrivateKey) -> str:
    """A secret whose AWSPREVIOUS is rsa_key (the app's certificate) and AWSCURRENT a new key."""
    sm.create_secret(Name=secret_name, SecretString=pem_of(rsa_key).decode())
    sm.put_secret_value(SecretId=secret_name, SecretString=pem_of(second_key).decode())
    return f"aws-sm:{secret_name}"


def test_rotation_fallback_uses_awsprevious(
    aws_host: PluginHost, emulator: SalesforceEmulator, rotated_secret: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    app = emulator.add_app(cert_for(rsa_key))  # the OLD certificate is still on the app
    with credentials(emulator, app.consumer_key, rotated_secret, aws_host, rotation_fallback=True) as creds:
        token = creds.get_token()
    assert token.access_token and emulator.tokens_issued == 1
    assert emulator.exchange_count == 2  # invalid assertion with AWSCURRENT, then AWSPREVIOUS accepted


def test_rotation_without_opt_in_fails(
    aws_host: PluginHost, emulator: SalesforceEmulator, rotated_secret: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    app = emulator.add_app(cert_for(rsa_key))
    with credentials(emulator, app.consumer_key, rotated_secret, aws_host) as creds:
        with pytest.raises(InvalidAssertionError):
            creds.get_token()
    assert emulator.exchange_count == 1 and emulator.tokens_issued == 0


def test_kms_signed_assertion_accepted_and_verified_independently(
    aws_host: PluginHost, emulator: SalesforceEmulator, kms: Any, tmp_path: Path
) -> None:
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ref = f"aws-kms:{key_id}"
    with open_signer(ref, aws_host) as signer:
        cert = certificate_pem(self_signed_certificate(signer, common_name="kms"))
    app = emulator.add_app(cert)
    with credentials(emulator, app.consumer_key, ref, aws_host) as creds:
        assert creds.get_token().access_token
        assertion = creds.mint_assertion()
    assert emulator.tokens_issued == 1

    public = load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    signing_input, _, signature = assertion.rpartition(".")
    public.verify(jwt.utils.base64url_decode(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    (tmp_path / "in").write_bytes(signing_input.encode())
    (tmp_path / "sig").write_bytes(jwt.utils.base64url_decode(signature))
    (tmp_path / "pub.pem").write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    result = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(tmp_path / "pub.pem"),
            "-signature",
            str(tmp_path / "sig"),
            str(tmp_path / "in"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Verified OK" in result.stdout


# --- the Lambda example -------------------------------------------------------------------------


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sfjwt_lambda_example", HANDLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def process_host_with_aws() -> Iterator[None]:
    """The handler uses the process-wide host; the `aws` entry point is not installed in the test venv."""
    reset_host()
    get_host().register(sfjwt_vault_aws, "aws")
    yield
    reset_host()
    sys.modules.pop("sfjwt_lambda_example", None)


def test_lambda_handler_warm_invocations_reuse_setup(
    emulator: SalesforceEmulator,
    sm: Any,
    secret_name: str,
    rsa_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    process_host_with_aws: None,
) -> None:
    sm.create_secret(Name=secret_name, SecretString=pem_of(rsa_key).decode())
    app = emulator.add_app(cert_for(rsa_key))
    monkeypatch.setenv("SF_CONSUMER_KEY", app.consumer_key)
    monkeypatch.setenv("SF_USERNAME", USERNAME)
    monkeypatch.setenv("SFJWT_KEY", f"aws-sm:{secret_name}")
    monkeypatch.setenv("SF_AUDIENCE", emulator.audience)
    monkeypatch.setenv("SF_TOKEN_URL", emulator.token_url)
    monkeypatch.setenv("SFJWT_PLUGINS", "aws")
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # as Lambda sets it

    module = load_handler()  # the init phase: Credentials.from_env() at module scope
    context = SimpleNamespace(
        function_name="sf-limits", aws_request_id="req-1", get_remaining_time_in_millis=lambda: 30000
    )
    event: dict[str, Any] = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}

    first = module.handler(event, context)
    creds_after_first = module.credentials
    clients_after_first = dict(clients._clients)
    assert first == {"status": 200, "limits": 3}
    assert emulator.exchange_count == 1 and emulator.rest_calls == 1

    context.aws_request_id = "req-2"
    second = module.handler(event, context)
    assert second == {"status": 200, "limits": 3}
    assert module.credentials is creds_after_first  # same Credentials object (module scope)
    assert list(clients_after_first) == [("secretsmanager", "us-east-1", clients.endpoint_for("secretsmanager"))]
    assert clients._clients == clients_after_first  # same boto3 client object, not a new one
    # The core's token cache (merged since this issue was written) serves the warm invocation: no new
    # login, no new Secrets Manager read; only the REST call is made again.
    assert emulator.exchange_count == 1 and emulator.tokens_issued == 1
    assert emulator.rest_calls == 2
    assert "access_token" not in first and all("Bearer" not in str(v) for v in first.values())
