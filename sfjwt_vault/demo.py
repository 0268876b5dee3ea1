"""`sfjwt demo`: the whole JWT Bearer flow offline, explained step by step.

A throwaway key and certificate, the Salesforce emulator on loopback, the file backend, a token, a REST
call, and the error a wrong key gets. The key file lives in a private temporary folder (in memory on
tmpfs where the machine has one) and is overwritten and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .cache import TokenCache
from .certs import certificate_pem, self_signed_certificate
from .credentials import Credentials
from .errors import SalesforceAuthError
from .secret import wipe
from .signer import LocalSigner

USERNAME = "integration@demo.example.com"


def _say(step: str, text: str) -> None:
    print(f"\n== {step}")
    print(textwrap.indent(textwrap.fill(text, 96), "   "))


def _show(label: str, value: object) -> None:
    print(f"   {label:<16} {value}")


@contextmanager
def private_dir() -> Iterator[str]:
    """A 0700 temporary folder, on tmpfs where available; files in it are zeroed before removal."""
    shm = "/dev/shm"  # noqa: S108  # nosec B108 - tmpfs keeps the key off disk; mkdtemp makes a private 0700 folder in it
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    path = tempfile.mkdtemp(prefix="sfjwt-demo-", dir=base)
    try:
        yield path
    finally:
        for name in os.listdir(path):
            target = os.path.join(path, name)
            size = os.path.getsize(target)
            with open(target, "r+b", buffering=0) as handle:
                handle.write(bytes(size))
                os.fsync(handle.fileno())
        shutil.rmtree(path, ignore_errors=True)


def write_private_key(path: str, key: rsa.RSAPrivateKey) -> None:
    """Write a PEM key to a new file with mode 0600, wiping our copy of the PEM afterwards."""
    pem = bytearray(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb", buffering=0) as handle:
            handle.write(pem)
    finally:
        wipe(pem)


def run_demo() -> int:
    from .testing.emulator import SalesforceEmulator

    print("sfjwt-vault demo: the OAuth 2.0 JWT Bearer flow, offline, against a local Salesforce emulator.")
    _say(
        "1. Key pair and certificate",
        "In real life you run `sfjwt keygen` once and upload the certificate to the Connected App "
        "(Setup > App Manager > your app > Use digital signatures). Here a throwaway 2048-bit RSA key "
        "and a self-signed certificate are made in memory.",
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = LocalSigner(key)
    cert = certificate_pem(self_signed_certificate(signer, common_name="sfjwt-vault demo", days=1))
    signer.close()
    _show("certificate", f"{len(cert)} bytes PEM, RSA {key.key_size} bits")

    with SalesforceEmulator() as org, private_dir() as folder:
        _say(
            "2. The org: a Connected App and a pre-authorized integration user",
            "The emulator stands in for Salesforce's token endpoint on 127.0.0.1. It registers the app "
            "with the certificate (that gives the consumer key) and a user whose profile is allowed to "
            "use the app (Permitted Users: admin approved users are pre-authorized).",
        )
        app = org.add_app(cert)
        org.add_user(USERNAME)
        _show("token URL", org.token_url)
        _show("audience (aud)", org.audience)
        _show("consumer key", app.consumer_key[:10] + "…")
        _show("username (sub)", USERNAME)

        key_path = os.path.join(folder, "demo-key.pem")
        write_private_key(key_path, key)
        del key
        _say(
            "3. The key in a store",
            "The private key goes into a store; here the file backend (mode 0600, in a temporary folder "
            "that is zeroed and removed at the end). In production it would be aws-sm:, vault:, or a "
            "remote signer (aws-kms:, vault-transit:) that never lets the key out.",
        )
        _show("key reference", f"file:{key_path}")

        creds = Credentials(
            app.consumer_key, USERNAME, f"file:{key_path}", audience=org.audience, token_url=org.token_url
        )
        _say(
            "4. Mint and exchange",
            "sfjwt-vault fetches the key just in time into a wipeable buffer, signs a JWT (RS256: iss = "
            "consumer key, sub = username, aud = audience, exp = now + 180 s), wipes the key, and POSTs "
            "the assertion to the token endpoint. The answer is a session: no refresh token, no expiry.",
        )
        with creds:
            token = creds.get_token()
            claims = org.last_assertion_claims or {}
            _show("claims sent", {k: claims.get(k) for k in ("iss", "sub", "aud", "exp")} | {"iss": "…"})
            _show("token", repr(token))

            _say("5. Use the token", "The access token is a bearer credential for the REST API.")
            with httpx.Client(base_url=token.instance_url) as client:
                response = client.get(
                    "/services/data/v65.0/limits", headers={"Authorization": token.authorization_header()}
                )
            _show("GET limits", f"HTTP {response.status_code}, {len(response.json())} limits")
            creds.get_token()
            _show("again", f"get_token() again: served from the cache, still {org.tokens_issued} exchange")

        _say(
            "6. What a mistake looks like",
            "The same request signed with a key whose certificate is not on the app. Salesforce says only "
            "'invalid assertion'; sfjwt-vault adds which setup check to do.",
        )
        other_path = os.path.join(folder, "other-key.pem")
        write_private_key(other_path, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        wrong = Credentials(
            app.consumer_key,
            USERNAME,
            f"file:{other_path}",
            audience=org.audience,
            token_url=org.token_url,
            cache=TokenCache(),  # its own cache, or it would get the token cached above
        )
        try:
            with wrong:
                wrong.get_token()
        except SalesforceAuthError as exc:
            _show("error", f"{exc.error}: {exc.description}")
            _show("hint", exc.hint)
        _show("exchanges", f"{org.exchange_count} made, {org.tokens_issued} token issued")
        _show("try yourself", "sfjwt emulator  # a local org to point `sfjwt token` at")

    _say("7. Clean up", "The emulator stopped; the key files were zeroed and removed. Nothing is left on disk.")
    _show("next", "point SF_CONSUMER_KEY, SF_USERNAME and SFJWT_KEY at your org and run `sfjwt token`")
    return 0
