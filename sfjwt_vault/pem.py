"""PEM to DER inside SecretBuffers, so parsing a key leaves no unwiped copy of it behind.

cryptography's PEM loader decodes the base64 body into heap buffers of its own that are freed without
being overwritten: measured, the private exponent and primes (DER, big-endian) stay readable in the
process's freed heap until something reuses that memory. Decoding here (binascii, into a bytes object
that is copied into a SecretBuffer and then zeroed in place) and handing cryptography the DER as a
buffer view leaves nothing but the SecretBuffers (wiped by the caller) and OpenSSL's key structures
(cleared on free).

Only the unencrypted or PKCS#8-encrypted private-key labels are handled; anything else (legacy
`Proc-Type: 4,ENCRYPTED` PEM, certificates, other labels, stray characters) returns None and the
caller falls back to cryptography's own PEM loader, which gives the usual errors.
"""

from __future__ import annotations

import binascii
import re

from .secret import SecretBuffer, wipe_received_bytes

LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"ENCRYPTED PRIVATE KEY")

# The whole body must be base64 with line breaks, padded with at most two "=" at the very end. A regex
# checks that over the buffer in place; it holds no copy and its match carries no key bytes.
_BODY = re.compile(rb"[A-Za-z0-9+/ \t\r\n]*(?:=[ \t\r\n]*){0,2}")


def pem_to_der(pem: SecretBuffer) -> SecretBuffer | None:
    """The DER body of a private-key PEM block in a new SecretBuffer, or None to let cryptography try.

    The caller wipes the returned buffer. On None nothing was allocated that held key bytes.
    """
    begin = pem.find(b"-----BEGIN ")
    if begin < 0:
        return None
    label_start = begin + len(b"-----BEGIN ")
    label_end = pem.find(b"-----", label_start)
    if label_end < 0 or label_end - label_start > 32:
        return None
    view = pem.view()
    try:
        label = bytes(view[label_start:label_end])  # a public label such as b"PRIVATE KEY"
        if label not in LABELS:
            return None
        body_start = label_end + 5
        body_end = pem.find(b"-----END " + label + b"-----", body_start)
        if body_end < 0:
            return None
        return _decode(view, body_start, body_end)
    finally:
        view.release()


def _decode(view: memoryview, start: int, end: int) -> SecretBuffer | None:
    body = view[start:end]
    try:
        if _BODY.fullmatch(body) is None:
            return None
        try:
            der = binascii.a2b_base64(body)
        except binascii.Error:  # a truncated quad or bad padding
            return None
    finally:
        body.release()
    # `der` is a bytes object only this function has seen: copy it into a SecretBuffer, then zero it
    # in place (a2b_base64 is C-fast; a byte-by-byte Python decoder cost ~0.4 ms per mint).
    try:
        return SecretBuffer.from_buffer(der) if der else None
    finally:
        wipe_received_bytes(der)
