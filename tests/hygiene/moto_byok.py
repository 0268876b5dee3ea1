"""A real moto server process whose new RSA_2048 KMS keys all hold one given private key.

Run as `python -m tests.hygiene.moto_byok -H 127.0.0.1 -p PORT` with SFJWT_TEST_BYOK_PEM naming a PEM file.
Real KMS would take the key with ImportKeyMaterial (origin EXTERNAL); moto 5.2 has no ImportKeyMaterial,
so this stands in for it: the memory scan then knows the needles of the key that KMS signs with, and a
mint that the emulator accepts proves KMS really signed with that key. Everything else is plain moto.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _install() -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from moto.kms import models, utils

    pem_path = Path(os.environ["SFJWT_TEST_BYOK_PEM"])
    original = models.generate_private_key

    def generate_private_key(key_spec: str) -> Any:
        if key_spec != "RSA_2048":
            return original(key_spec)
        imported = object.__new__(utils.RSAPrivateKey)
        imported.key_size = 2048
        imported.private_key = load_pem_private_key(pem_path.read_bytes(), None)
        return imported

    models.generate_private_key = generate_private_key  # type: ignore[assignment]


def main() -> None:
    _install()
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()
