"""The `file:` key backend: a PEM private key in a local file (or a bare path).

Reads unbuffered with `readinto` straight into a SecretBuffer, so no `bytes` copy of the key is made
by Python's buffered I/O. Reads are bounded: a file larger than any PEM key is refused unread.
"""

from __future__ import annotations

import os
import stat

from sfjwt_vault import KeyBackendError, KeyRef, SecretBuffer, hookimpl
from sfjwt_vault.keys import MAX_KEY_BYTES

SCHEME = "file"


@hookimpl
def sfjwt_schemes() -> list[str]:
    return [SCHEME]


@hookimpl
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer | None:
    if ref.scheme != SCHEME:
        return None
    path = os.path.expanduser(ref.path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise KeyBackendError(
            f"key file {path!r} does not exist", hint="check SFJWT_KEY; create a key with `sfjwt keygen`"
        ) from None
    except PermissionError:
        raise KeyBackendError(
            f"key file {path!r} is not readable by this user",
            hint="grant read access to the service user only (chmod 600, chown)",
        ) from None
    except OSError as exc:
        raise KeyBackendError(f"key file {path!r} could not be opened: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise KeyBackendError(f"key path {path!r} is not a regular file", hint="point SFJWT_KEY at the PEM file")
    with os.fdopen(fd, "rb", buffering=0) as handle:
        if info.st_size > MAX_KEY_BYTES:
            raise KeyBackendError(
                f"key file {path!r} is {info.st_size} bytes, larger than any PEM key ({MAX_KEY_BYTES} max)",
                hint="SFJWT_KEY must point at the PEM private key itself",
            )
        buffer = SecretBuffer(MAX_KEY_BYTES + 1)
        try:
            view = buffer.writable()
            total = 0
            while total <= MAX_KEY_BYTES:
                read = handle.readinto(view[total:])
                if not read:
                    break
                total += read
            view.release()
            if total > MAX_KEY_BYTES:
                raise KeyBackendError(f"key file {path!r} grew past {MAX_KEY_BYTES} bytes while being read")
            buffer.set_length(total)
        except BaseException:
            buffer.wipe()
            raise
        return buffer
