"""An example third-party backend: `env:VARNAME` reads a PEM private key from an environment variable.

Shown as the smallest complete plugin; docs/plugins.md builds it step by step. Hygiene caveat, stated
honestly: the environment holds the key as an immutable string for the life of the process, so this
backend can only wipe its own copy. Prefer a secrets manager or a remote signer in production.
"""

from __future__ import annotations

import os

from sfjwt_vault.plugin_api import ConfigurationError, KeyBackendError, KeyRef, SecretBuffer, hookimpl, wipe

SCHEME = "env"


@hookimpl
def sfjwt_schemes() -> list[str]:
    return [SCHEME]


@hookimpl
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer:
    # The host calls this only for env: references, so there is no scheme to check.
    ref.check_options({"passphrase_env"}, "env:SF_PRIVATE_KEY")
    if ref.fragment is not None:
        raise ConfigurationError(f"{str(ref)!r} has a #field; env: names a variable", hint="use env:VARNAME")
    value = os.environ.get(ref.path)
    if not value:
        raise KeyBackendError(f"environment variable {ref.path!r} is not set", hint=f"export {ref.path}=...")
    encoded = bytearray(value, "utf-8")
    try:
        return SecretBuffer.from_buffer(encoded)  # a copy the core parses and wipes after the mint
    finally:
        wipe(encoded)  # our own copy
