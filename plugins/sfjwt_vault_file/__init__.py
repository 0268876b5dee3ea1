"""The `file:` key backend: a PEM private key in a local file (or a bare path).

    file:<path>[?passphrase_env=VAR]

Reads unbuffered with `readinto` straight into a SecretBuffer, so no `bytes` copy of the key is made
by Python's buffered I/O. Reads are bounded: a file larger than any PEM key is refused unread, and
anything but a regular file (a FIFO, a device) is refused without blocking on it. A key file that
group or others can access, or that another user owns, still works but logs one warning per process
(as ssh refuses such keys); `key_file_problems` reports the same for `sfjwt doctor`.
Writes (`sfjwt keygen --store file:...`) create the file 0600 and exclusively, straight from the
buffer; replacing a key goes through a 0600 temporary file in the same folder and `os.replace`.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import tempfile

from sfjwt_vault.plugin_api import (
    MAX_KEY_BYTES,
    ConfigurationError,
    KeyBackendError,
    KeyProblem,
    KeyRef,
    SecretBuffer,
    hookimpl,
)

SCHEME = "file"
OPTIONS = {"passphrase_env"}  # read by the core, for encrypted PEM files
EXAMPLE = "file:/etc/sf/key.pem?passphrase_env=SF_KEY_PASSPHRASE"

log = logging.getLogger("sfjwt_vault.file")
_warned: set[tuple[str, str]] = set()


@hookimpl
def sfjwt_schemes() -> list[str]:
    return [SCHEME]


@hookimpl
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer:
    path = _checked_path(ref)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below by fstat.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
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
    _warn_once(path, info)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        if info.st_size > MAX_KEY_BYTES:
            raise KeyBackendError(
                f"key file {path!r} is {info.st_size} bytes, larger than any PEM key ({MAX_KEY_BYTES} max)",
                hint="SFJWT_KEY must point at the PEM private key itself",
            )
        # Sized from fstat, one byte over to see a file that grew since: a file rewritten in place (not
        # renamed over) is read again into a buffer of the largest size allowed.
        for capacity in (info.st_size + 1, MAX_KEY_BYTES + 1):
            handle.seek(0)
            buffer = SecretBuffer(capacity)
            try:
                total = _read_into(handle, buffer)
            except BaseException:
                buffer.wipe()
                raise
            if total < capacity:
                return buffer
            buffer.wipe()
        raise KeyBackendError(f"key file {path!r} grew past {MAX_KEY_BYTES} bytes while being read")


def _read_into(handle: io.FileIO, buffer: SecretBuffer) -> int:
    """Fill the buffer from the file until its end or the buffer's; how many bytes it holds."""
    with buffer.writable() as view:
        total = 0
        while total < len(view):
            read = handle.readinto(view[total:])
            if not read:
                break
            total += read
    buffer.set_length(total)
    return total


@hookimpl
def sfjwt_key_problems(ref: KeyRef) -> list[KeyProblem]:
    return key_file_problems(_checked_path(ref))


def key_file_problems(path: str) -> list[KeyProblem]:
    """What is wrong with a working key file's protection: access for group or others, another owner.

    [] when nothing is, or when the file cannot be inspected (reading it reports that better).
    """
    try:
        info = os.stat(os.path.expanduser(path))
    except OSError:
        return []
    return _problems(path, info) if stat.S_ISREG(info.st_mode) else []


def _problems(path: str, info: os.stat_result) -> list[KeyProblem]:
    problems: list[KeyProblem] = []
    if info.st_mode & 0o077:
        problems.append(
            KeyProblem(
                f"key file {path!r} has mode {stat.S_IMODE(info.st_mode):04o}: group or others can access it",
                f"chmod 600 {path!r}, so that only its owner can read it",
            )
        )
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and info.st_uid != geteuid():
        problems.append(
            KeyProblem(
                f"key file {path!r} is owned by uid {info.st_uid}, not by this user (uid {geteuid()})",
                "chown the key file to the user that runs sfjwt-vault, and chmod 600 it",
            )
        )
    return problems


def _warn_once(path: str, info: os.stat_result) -> None:
    """One warning per problem per process, not one per mint."""
    for problem in _problems(path, info):
        if (path, problem.message) not in _warned:
            _warned.add((path, problem.message))
            log.warning("%s; %s", problem.message, problem.hint)


def _checked_path(ref: KeyRef) -> str:
    """The file's path; unknown options and a #field are refused, since a typo must not pass silently."""
    ref.check_options(OPTIONS, EXAMPLE)
    if ref.fragment is not None:
        raise ConfigurationError(
            f"the key reference {str(ref)!r} has a #field, which a key file does not have",
            hint=f"name the PEM file itself, e.g. {EXAMPLE}",
        )
    return os.path.expanduser(ref.path)


@hookimpl
def sfjwt_store_key(ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str:
    path = os.path.abspath(_checked_path(ref))
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
