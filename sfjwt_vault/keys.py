"""From a key reference to a signer for one mint: fetch just in time, parse, check, wipe.

This module holds the wipe discipline: the PEM lives in a SecretBuffer for the milliseconds between the
backend's fetch and the parse, and is wiped in a `finally` whatever happens. The parsed key object is
dropped when the signer closes, right after signing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key

from .errors import ConfigurationError, KeyFormatError
from .keyref import KeyRef
from .pem import pem_to_der
from .plugins import PluginHost, get_host
from .secret import SecretBuffer
from .signer import LocalSigner, Signer

MIN_RSA_BITS = 2048
MAX_KEY_BYTES = 64 * 1024  # a 16384-bit encrypted PEM is ~13 KiB; anything far larger is not a key

# cryptography validates an RSA key on load (primality of p and q, and the CRT values against them):
# ~35 ms of every cold start, paid again for the same key. The token path skips it; `sfjwt doctor`
# (full_check=True) does it. Why that is safe is written down in docs/security.md ("Key validation"):
# the key comes from the user's own store, and OpenSSL checks every CRT signature it makes against the
# public key before returning it, so a damaged key gives a signature Salesforce refuses, never one
# that reveals the key.


@contextmanager
def open_signer(ref: str | KeyRef, host: PluginHost | None = None, *, full_check: bool = False) -> Iterator[Signer]:
    """Yield a signer for one mint. Remote signers are used as they are; local keys are wiped after.
    `full_check` validates the key's mathematics (the doctor's check; the token path skips it)."""
    key_ref = KeyRef.parse(ref)
    host = host or get_host()
    remote = host.remote_signer(key_ref)
    if remote is not None:
        yield remote
        return
    buffer = host.fetch_key(key_ref)
    try:
        signer = LocalSigner(load_private_key(buffer, passphrase=_passphrase(key_ref), full_check=full_check))
    finally:
        buffer.wipe()
    try:
        yield signer
    finally:
        signer.close()


def load_private_key(
    buffer: SecretBuffer, *, passphrase: bytes | None = None, full_check: bool = False
) -> RSAPrivateKey:
    """Parse a PEM RSA private key (PKCS#1 or PKCS#8, optionally encrypted) straight from the buffer."""
    _unescape_newlines(buffer)
    view = buffer.view()
    try:
        if len(view) == 0:
            raise KeyFormatError("the key is empty", hint="check the secret holds the PEM private key")
        der = pem_to_der(buffer)
        try:
            key = _parse(view, passphrase, skip_validation=not full_check, der=der)
        finally:
            if der is not None:
                der.wipe()
    finally:
        view.release()
    if not isinstance(key, RSAPrivateKey):
        kind = type(key).__name__.lstrip("_").replace("PrivateKey", "")
        raise KeyFormatError(
            f"the key is {kind or 'not RSA'}, but Salesforce's JWT Bearer flow only accepts RSA (RS256)",
            hint="generate an RSA key: `sfjwt keygen` (2048 bits or more)",
        )
    if key.key_size < MIN_RSA_BITS:
        raise KeyFormatError(
            f"the RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required",
            hint="generate a new 2048- or 4096-bit key with `sfjwt keygen` and upload its certificate",
        )
    return key


def _parse(
    view: memoryview, passphrase: bytes | None, *, skip_validation: bool, der: SecretBuffer | None = None
) -> object:
    """Load from our own DER decoding when there is one (no unwiped copy), else from the PEM."""
    # Exceptions from cryptography are re-raised without chaining: their text is ours to choose.
    try:
        if der is not None:
            der_view = der.view()
            try:
                return load_der_private_key(der_view, passphrase, unsafe_skip_rsa_key_validation=skip_validation)
            finally:
                der_view.release()
        return load_pem_private_key(view, passphrase, unsafe_skip_rsa_key_validation=skip_validation)
    except TypeError:
        if passphrase is None:
            error = KeyFormatError(
                "the PEM key is encrypted and no passphrase was given",
                hint="add ?passphrase_env=VARNAME to the key reference and put the passphrase in that variable",
            )
        else:
            error = KeyFormatError(
                "a passphrase was given but the PEM key is not encrypted",
                hint="remove ?passphrase_env from the key reference",
            )
    except UnsupportedAlgorithm:
        error = KeyFormatError("the key uses an unsupported algorithm", hint="use an RSA key (`sfjwt keygen`)")
    except ValueError:
        error = KeyFormatError(
            "the key could not be read as a PEM private key (malformed, truncated, inconsistent, wrong passphrase, "
            "or a certificate/public key where the private key was expected)",
            hint="the secret must hold the whole '-----BEGIN PRIVATE KEY-----' (or RSA PRIVATE KEY) block",
        )
    raise error


def _unescape_newlines(buffer: SecretBuffer) -> None:
    """Undo `\\n` literals left by environment variables or JSON mangling, in place.

    Only when the buffer holds no real newline at all: a PEM with literal backslash-n sequences and no
    line breaks is unambiguous, and base64 never contains a backslash.
    """
    if buffer.find(b"\n") >= 0 or buffer.find(b"\\n") < 0:
        return
    data = buffer.writable()
    length = len(buffer)
    out = 0
    i = 0
    while i < length:
        if data[i] == 0x5C and i + 1 < length and data[i + 1] == 0x6E:  # backslash, n
            data[out] = 0x0A
            i += 2
        else:
            data[out] = data[i]
            i += 1
        out += 1
    data[out:length] = bytes(length - out)
    data.release()
    buffer.set_length(out)


def _passphrase(ref: KeyRef) -> bytes | None:
    var = ref.options.get("passphrase_env")
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise ConfigurationError(
            f"the key reference names passphrase variable {var!r}, which is not set",
            hint=f"export {var}=... with the PEM passphrase",
        )
    return value.encode()
