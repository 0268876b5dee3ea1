"""PEM to DER inside SecretBuffers, so parsing a key leaves no unwiped copy of it behind.

cryptography's PEM loader decodes the base64 body into heap buffers of its own that are freed without
being overwritten: measured, the private exponent and primes (DER, big-endian) stay readable in the
process's freed heap until something reuses that memory. Decoding here, byte by byte into a
SecretBuffer, and handing cryptography the DER as a buffer view leaves nothing but the SecretBuffers
(wiped by the caller) and OpenSSL's key structures (cleared on free).

Only the unencrypted or PKCS#8-encrypted private-key labels are handled; anything else (legacy
`Proc-Type: 4,ENCRYPTED` PEM, certificates, other labels, stray characters) returns None and the
caller falls back to cryptography's own PEM loader, which gives the usual errors.
"""

from __future__ import annotations

from .secret import SecretBuffer

LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"ENCRYPTED PRIVATE KEY")

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_WHITESPACE = -2
_INVALID = -1
# Values 0..63 for base64 characters; every intermediate below stays under 256, so the only Python
# ints involved are the interpreter's cached small ints: no heap object ever holds key bits.
_DECODE = [_INVALID] * 256
for _i, _c in enumerate(_ALPHABET):
    _DECODE[_c] = _i
for _c in b" \t\r\n":
    _DECODE[_c] = _WHITESPACE


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
    out = SecretBuffer((end - start) * 3 // 4 + 3)
    target = out.writable()
    try:
        quad = [0, 0, 0, 0]
        filled = 0
        written = 0
        padding = 0
        for index in range(start, end):
            char = view[index]
            value = _DECODE[char]
            if value == _WHITESPACE:
                continue
            if char == 0x3D:  # "=": only at the end, at most two
                padding += 1
                if padding > 2 or filled < 2:
                    _fail(out, target)
                    return None
                value = 0
            elif value == _INVALID or padding:
                _fail(out, target)
                return None
            quad[filled] = value
            filled += 1
            if filled == 4:
                target[written] = ((quad[0] << 2) & 0xFF) | (quad[1] >> 4)
                target[written + 1] = ((quad[1] & 0x0F) << 4) | (quad[2] >> 2)
                target[written + 2] = ((quad[2] & 0x03) << 6) | quad[3]
                written += 3 - padding
                filled = 0
        quad[0] = quad[1] = quad[2] = quad[3] = 0
        if filled or written == 0:
            _fail(out, target)
            return None
        target.release()
        out.set_length(written)
        return out
    except BaseException:
        target.release()
        out.wipe()
        raise


def _fail(out: SecretBuffer, target: memoryview) -> None:
    target.release()
    out.wipe()
