"""End to end with the Salesforce emulator: a Transit-signed assertion, and KV v2 rotation fallback."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from sfjwt_vault import Credentials, KeyRef, SecretBuffer
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.errors import InvalidAssertionError
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.testing.emulator import SalesforceEmulator

from .conftest import USERNAME, Bao, new_key
from .test_transit import REF, vault_public_key


def credentials(emu: SalesforceEmulator, consumer_key: str, key: str, host: PluginHost, **kw: object) -> Credentials:
    return Credentials(
        consumer_key,
        USERNAME,
        key,
        token_url=emu.token_url,
        audience=emu.audience,
        plugin_host=host,
        cache=TokenCache(),
        **kw,  # type: ignore[arg-type]
    )


def b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_transit_assertion_accepted(root_env: Bao, host: PluginHost, emulator: SalesforceEmulator) -> None:
    with open_signer(REF, host) as signer:
        cert = certificate_pem(self_signed_certificate(signer, common_name="transit"))
    app = emulator.add_app(cert)
    with credentials(emulator, app.consumer_key, REF, host) as creds:
        assertion = creds.mint_assertion()
        token = creds.get_token()
    assert token.instance_url == emulator.base_url
    assert emulator.tokens_issued == 1
    # Independently of PyJWT and the emulator: an RS256 JWS over header.payload with the Transit key.
    header, payload, signature = assertion.split(".")
    assert json.loads(b64url(header))["alg"] == "RS256"
    assert json.loads(b64url(payload))["sub"] == USERNAME
    vault_public_key(root_env).verify(
        b64url(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_rotation_fallback_to_previous_kv_version(
    root_env: Bao, host: PluginHost, emulator: SalesforceEmulator
) -> None:
    old_pem, old_cert = new_key()
    new_pem, _new_cert = new_key()
    ref = f"vault:secret/{root_env.prefix}/rotation"
    host.store_key(KeyRef.parse(ref), SecretBuffer.from_buffer(old_pem), overwrite=False)
    app = emulator.add_app(old_cert)  # the app still holds the old certificate...
    assert "new version 2" in host.store_key(KeyRef.parse(ref), SecretBuffer.from_buffer(new_pem), overwrite=False)

    # ...so the new key's assertion is refused, and without opt-in that is the answer.
    with credentials(emulator, app.consumer_key, ref, host) as creds, pytest.raises(InvalidAssertionError):
        creds.get_token()
    issued_before = emulator.tokens_issued
    exchanges_before = emulator.exchange_count

    with credentials(emulator, app.consumer_key, ref, host, rotation_fallback=True) as creds:
        creds.get_token()
    assert emulator.tokens_issued == issued_before + 1
    assert emulator.exchange_count == exchanges_before + 2  # new key refused, version 1 accepted
