"""The process whose memory is scanned (and the one that makes the test key). Run as
`python -m tests.hygiene.child setup DIR` or `python -m tests.hygiene.child MODE`.

MODE is `parse` (open_signer, nothing after), `library` (Credentials.from_env().get_token()), `cli` (sfjwt_vault.cli.main(["token"])) or
`control` (keeps copies of the PEM, d and p on purpose). Settings come from the environment the parent
prepared; SFJWT_TEST_PLUGINS lists `module:name` plugins to register (no entry-point scan). After the
mint the child prints "ready" and blocks on stdin until the parent has scanned it.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path


def setup(directory: Path) -> None:
    """Make the key for a scan: PEM (0600) and certificate on disk, needles on stdout. The parent
    only ever sees hashes and masked prefixes of the key."""
    from cryptography.hazmat.primitives import serialization

    from sfjwt_vault.testing import make_test_keypair
    from tests.hygiene.memscan import key_needles

    key, cert_pem = make_test_keypair()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(directory / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    (directory / "cert.pem").write_bytes(cert_pem)
    numbers = key.private_numbers()
    needles = key_needles(pem, numbers.d, numbers.p, key.key_size // 8)
    json.dump([n.to_json() for n in needles], sys.stdout)


def upload(directory: Path) -> None:
    """Put the scan key into the secret stores and remote signers the parent started; print the refs.

    Secrets Manager: as a plain SecretString and as a JSON field. Vault KV v2: in a field. Vault
    Transit: imported (BYOK) through the wrapping key. KMS: a new RSA_2048 key, which the parent's
    moto server makes from this key (see moto_byok.py). The parent gets references only."""
    import base64
    import secrets

    import boto3
    import hvac
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    pem = (directory / "key.pem").read_bytes()
    tag = os.environ["SFJWT_TEST_STORE_TAG"]
    refs: dict[str, str] = {}
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name=f"hygiene/{tag}/pem", SecretString=pem.decode())
    sm.create_secret(Name=f"hygiene/{tag}/json", SecretString=json.dumps({"note": "x", "jwt_key": pem.decode()}))
    refs["aws-sm"] = f"aws-sm:hygiene/{tag}/pem"
    refs["aws-sm-json"] = f"aws-sm:hygiene/{tag}/json#jwt_key"
    key = boto3.client("kms").create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    refs["aws-kms"] = f"aws-kms:{key['KeyId']}"

    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    client.secrets.kv.v2.create_or_update_secret(f"hygiene/{tag}", {"private_key": pem.decode()}, mount_point="secret")
    refs["vault"] = f"vault:secret/hygiene/{tag}"
    wrapping = serialization.load_pem_public_key(client.read("transit/wrapping_key")["data"]["public_key"].encode())
    der = serialization.load_pem_private_key(pem, None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ephemeral = secrets.token_bytes(32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    blob = wrapping.encrypt(ephemeral, oaep) + aes_key_wrap_with_padding(ephemeral, der)  # type: ignore[union-attr]
    client.write(f"transit/keys/hygiene-{tag}/import", ciphertext=base64.b64encode(blob).decode(), type="rsa-2048")
    refs["vault-transit"] = f"vault-transit:transit/hygiene-{tag}"
    json.dump(refs, sys.stdout)


def _host() -> object:
    from sfjwt_vault.plugins import PluginHost

    host = PluginHost(load_entry_points=False)
    for spec in os.environ.get("SFJWT_TEST_PLUGINS", "sfjwt_vault_file:file").split(","):
        module, name = spec.split(":")
        host.register(importlib.import_module(module), name)
    return host


def run(mode: str) -> object:
    """Mint as the mode says; return whatever must stay alive until the scan."""
    from sfjwt_vault import Credentials, plugins

    host = _host()
    if mode == "library":
        creds = Credentials.from_env(plugin_host=host)
        token = creds.get_token()
        return creds, token
    if mode == "parse":
        # The strictest case: fetch and parse, then nothing that could reuse (overwrite) freed memory.
        from sfjwt_vault.keys import open_signer

        with open_signer(os.environ["SFJWT_KEY"], host) as signer:  # type: ignore[arg-type]
            assert signer.public_key().key_size == 2048
        return None
    if mode == "cli":
        from sfjwt_vault import cli

        plugins._host = host  # type: ignore[assignment]  # the CLI's process-wide host, without entry points
        code = cli.main(["token", "--format", "env"])
        if code != 0:
            raise SystemExit(f"sfjwt token exited {code}")
        return None
    if mode == "control":
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        creds = Credentials.from_env(plugin_host=host)
        token = creds.get_token()
        pem = Path(os.environ["SFJWT_KEY"].removeprefix("file:")).read_bytes()
        key = load_pem_private_key(pem, None)
        numbers = key.private_numbers()  # type: ignore[union-attr]
        kept = (
            pem,
            b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")),
            numbers.d.to_bytes(256, "big"),
            numbers.p.to_bytes(128, "big"),
        )
        return creds, token, key, kept
    raise SystemExit(f"unknown mode {mode!r}")


def _count_secret_buffers() -> list[int]:
    """Count every SecretBuffer the mint creates: a remote signer must create none (no key fetched)."""
    from sfjwt_vault.secret import SecretBuffer

    made = [0]
    init = SecretBuffer.__init__

    def counting_init(self: SecretBuffer, size: int) -> None:
        made[0] += 1
        init(self, size)

    SecretBuffer.__init__ = counting_init  # type: ignore[method-assign]
    return made


def main() -> None:
    if sys.argv[1] == "setup":
        setup(Path(sys.argv[2]))
        return
    if sys.argv[1] == "upload":
        upload(Path(sys.argv[2]))
        return
    made = _count_secret_buffers()
    keep = run(sys.argv[1])
    sys.stdout.write(f"\nsecret_buffers={made[0]}\n")
    if os.environ.get("SFJWT_TEST_GC") == "1":
        import gc

        gc.collect()
    sys.stdout.write("\nready\n")
    sys.stdout.flush()
    sys.stdin.read()
    del keep


if __name__ == "__main__":
    main()
