"""An example third-party backend: `env:VARNAME` reads a PEM private key from an environment variable.

Shown as the smallest complete plugin. Hygiene caveat, stated honestly: the environment holds the key
as an immutable string for the life of the process, so this backend can only wipe its own copy. Prefer
a secrets manager or a remote signer in production.
"""

from __future__ import annotations

import os

from sfjwt_vault import KeyBackendError, KeyRef, SecretBuffer, hookimpl


@hookimpl
def sfjwt_schemes() -> list[str]:
    return ["env"]


@hookimpl
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer | None:
    if ref.scheme != "env":
        return None
    value = os.environ.get(ref.path)
    if not value:
        raise KeyBackendError(f"environment variable {ref.path!r} is not set", hint=f"export {ref.path}=...")
    encoded = bytearray(value, "utf-8")
    try:
        return SecretBuffer.from_buffer(encoded)
    finally:
        encoded[:] = bytes(len(encoded))
