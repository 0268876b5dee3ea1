"""What must never appear in any output, in every encoding it can take, and one check over any text.

A secret can show up re-encoded: botocore logs a KMS `Sign` request with the JWT signing input as
standard base64 and the answer with the signature as standard base64; a Transit call carries both the
same way; a KMS `Encrypt` of the token response carries the token as base64 at any byte offset; hex
dumps show bytes as hex. So each secret is searched as:

- the key: its private numbers (d, p, q and the CRT values, big-endian as in the DER) as standard and
  URL-safe base64 at each of the three byte alignments and as hex, so any run of a PEM body line, of the
  DER in base64 or of the DER in hex that holds private bytes is found. The public parts (n, e) are
  left out on purpose: a certificate or a public key legitimately shows them;
- an assertion: the whole JWT, its claims and signature segments (base64url), the signing input and
  the signature as standard and URL-safe base64 at each of the three byte alignments, and the signature
  as hex;
- an access token (and any other secret string, such as a Vault token): as text, and as base64 at each
  alignment.

Each encoded form is searched by windows: every RUN-character run of it contains one WINDOW-character
window, so a leak of any RUN characters of any form is found, and a shorter coincidence is not.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator

RUN = 32
WINDOW = 24


def windows(text: str) -> Iterator[str]:
    """WINDOW-character slices such that every RUN-character run of `text` contains one."""
    if len(text) <= WINDOW:
        if text:
            yield text
        return
    for i in range(0, len(text) - WINDOW + 1, RUN - WINDOW):
        yield text[i : i + WINDOW]
    yield text[-WINDOW:]


def base64_forms(data: bytes) -> Iterator[str]:
    """Standard and URL-safe base64 of `data` as it appears inside a longer encoded buffer at any offset."""
    for shift in range(3):
        encoded = base64.b64encode(data[shift:]).decode().rstrip("=")
        # the last group may mix with whatever follows in the longer buffer: leave it out
        body = encoded[: len(encoded) - len(encoded) % 4 - 4] if len(encoded) > 8 else encoded
        yield body
        yield body.replace("+", "-").replace("/", "_")


def _private_numbers(pem: bytes) -> list[bytes]:
    """The private values of an RSA key, big-endian and minimal, as its DER carries them."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    numbers = key.private_numbers()
    values = (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)
    return [value.to_bytes((value.bit_length() + 7) // 8, "big") for value in values]


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Secrets:
    """Everything that must never be printed; `check` fails if any of it is in a text."""

    def __init__(self, key_pems: Iterable[bytes] = ()) -> None:
        self.keys: list[bytes] = list(key_pems)
        self.assertions: list[str] = []
        self.tokens: list[str] = []  # access tokens, Vault tokens: any secret string

    def forms(self) -> Iterator[str]:
        """Every encoded form of every secret (whole strings; `check` searches them by window)."""
        for pem in self.keys:
            for number in _private_numbers(pem):
                yield from base64_forms(number)
                yield number.hex()
                yield number.hex().upper()
        for assertion in self.assertions:
            signing_input, _, signature_part = assertion.rpartition(".")
            yield assertion
            yield signing_input.partition(".")[2]  # the claims segment
            yield signature_part
            signature = _b64url_decode(signature_part)
            yield from base64_forms(signing_input.encode())
            yield from base64_forms(signature)
            yield signature.hex()
            yield signature.hex().upper()
        for token in self.tokens:
            yield token
            yield from base64_forms(token.encode())

    def needles(self) -> Iterator[str]:
        for form in self.forms():
            yield from windows(form)

    def check(self, where: str, text: str) -> None:
        for needle in self.needles():
            assert needle not in text, f"a secret appears in {where}"

    def assert_recorded(self) -> None:
        """A check with nothing recorded is vacuous: the case must have minted."""
        assert self.assertions and self.tokens, "no assertion or token recorded: the check would be vacuous"
