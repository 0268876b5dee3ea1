"""The `file:` key backend: a PEM private key in a local file (or a bare path).

Reads unbuffered with `readinto` straight into a SecretBuffer, so no `bytes` copy of the key is made
by Python's buffered I/O. Reads are bounded: a file larger than any PEM key is refused unread.
Writes (`sfjwt keygen --store file:...`) create the file 0600 and exclusively, straight from the
buffer; replacing a key goes through a 0600 temporary file in the same folder and `os.replace`.
"""

from __future__ import annotations

import os
import stat
import tempfile

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


@hookimpl
def sfjwt_store_key(ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str | None:
    if ref.scheme != SCHEME:
        return None
    path = os.path.abspath(os.path.expanduser(ref.path))
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise KeyBackendError(
            f"folder {directory!r} for the key file does not exist", hint="create it first (mode 0700)"
        )
    existed = os.path.lexists(path)
    if existed and not overwrite:
        raise KeyBackendError(
            f"key file {path!r} already exists; not replaced",
            hint="pass --force to replace it (the file backend keeps no previous version: the old key is gone)",
        )
    if not overwrite:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        except FileExistsError:
            raise KeyBackendError(
                f"key file {path!r} appeared while writing; not replaced", hint="pass --force"
            ) from None
        except OSError as exc:
            raise KeyBackendError(f"key file {path!r} could not be created: {exc.strerror}") from None
        _write_or_remove(fd, path, pem)
        _fsync_dir(directory)
        return f"wrote new key file {path} (mode 0600)"
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as exc:
        raise KeyBackendError(f"could not create a temporary file in {directory!r}: {exc.strerror}") from None
    _write_or_remove(fd, tmp, pem)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise KeyBackendError(f"could not replace key file {path!r}: {exc.strerror}") from None
    _fsync_dir(directory)
    if existed:
        return f"replaced key file {path} (mode 0600); the file backend keeps no previous version"
    return f"wrote new key file {path} (mode 0600)"


def _write_or_remove(fd: int, path: str, pem: SecretBuffer) -> None:
    """Write the buffer through the descriptor (no bytes copy), fsync, close; remove the file on failure."""
    view = pem.view()
    try:
        os.fchmod(fd, 0o600)  # exact mode, whatever the umask
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        os.unlink(path)
        raise KeyBackendError(f"writing key file {path!r} failed: {exc.strerror}; nothing was kept") from None
    finally:
        view.release()
    os.close(fd)


def _fsync_dir(directory: str) -> None:
    """Make the new directory entry durable too (best effort: not every OS can fsync a folder)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
