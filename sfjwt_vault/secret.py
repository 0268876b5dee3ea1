"""SecretBuffer: the one type key material travels in, and the one place it is wiped.

Python's `bytes` and `str` are immutable and cannot be cleared; a `bytearray` can. Backends put the PEM
into a SecretBuffer, the core parses it straight from the buffer and wipes it in a `finally`.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ctypes

# ctypes and libc are loaded on the first SecretBuffer, not at `import sfjwt_vault` (cold-start budget).
_libc: ctypes.CDLL | None = None
_libc_loaded = False
_libc_lock = threading.Lock()


def _load_libc() -> ctypes.CDLL | None:
    global _libc, _libc_loaded
    if _libc_loaded:
        return _libc
    with _libc_lock:
        if not _libc_loaded:
            if sys.platform.startswith("linux"):
                import ctypes

                # The process's own symbols already include libc's (glibc and musl alike): no
                # ctypes.util.find_library, which runs `ldconfig -p` in a subprocess (~10 ms of a cold start).
                try:
                    _libc = ctypes.CDLL(None, use_errno=True)
                    _libc.mlock  # noqa: B018 - present, or fall back to looking libc up
                except (OSError, AttributeError):  # pragma: no cover - an unusual libc
                    import ctypes.util

                    try:
                        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                    except OSError:  # no libc: hardening is best effort
                        _libc = None
            _libc_loaded = True
    return _libc


def wipe(buffer: bytearray | memoryview) -> None:
    """Overwrite every byte of a mutable buffer with zeros."""
    import ctypes

    if type(buffer) is bytearray:  # the common case, without a view: ~1 µs
        if buffer:
            ctypes.memset(ctypes.addressof(ctypes.c_char.from_buffer(buffer)), 0, len(buffer))
        return
    view = memoryview(buffer).cast("B")
    if view.nbytes:
        ctypes.memset((ctypes.c_char * view.nbytes).from_buffer(view), 0, view.nbytes)
    view.release()


def wipe_received_bytes(data: bytes) -> None:
    """Zero the storage of a `bytes` object that held a secret and that only its receiver still reads.

    For SDK response bodies a plugin copied a key out of (the boto3 body, say): Python cannot clear an
    immutable object, so this writes over its payload in place. Never use it on an object that other
    code may still compare, hash or read as data; objects of length 0 or 1 (shared singletons) are
    left alone.
    """
    if type(data) is not bytes or len(data) < 2:
        return
    import ctypes

    ctypes.memset(id(data) + bytes.__basicsize__ - 1, 0, len(data))


class SecretBuffer:
    """A fixed-size, wipeable byte buffer. Its repr and str never show the content.

    `view()` gives a memoryview for parsers that accept buffers; nothing here makes a `bytes` copy.
    The buffer is locked in memory and excluded from core dumps where the OS allows it.
    """

    __slots__ = ("__weakref__", "_buf", "_length", "_locked")

    def __init__(self, size: int) -> None:
        self._buf = bytearray(size)
        self._length = 0
        self._locked = _harden(self._buf)

    @classmethod
    def from_buffer(cls, data: bytes | bytearray | memoryview) -> SecretBuffer:
        """Copy data in. Wiping the source is the caller's job (if it is mutable)."""
        view = memoryview(data).cast("B")
        buf = cls(view.nbytes)
        # Through a memoryview, so the bytes go straight into the buffer: `bytearray[:n] = x` first copies
        # any `x` that is not a bytearray into a temporary bytearray, which is freed unwiped (CPython's
        # bytearray_ass_subscript). That temporary left the DER of every parsed key in freed heap.
        with memoryview(buf._buf) as target:
            target[: view.nbytes] = view
        buf._length = view.nbytes
        view.release()
        return buf

    @property
    def capacity(self) -> int:
        return len(self._buf)

    def __len__(self) -> int:
        return self._length

    def set_length(self, length: int) -> None:
        if not 0 <= length <= len(self._buf):
            raise ValueError("length out of range")
        self._length = length

    def find(self, needle: bytes, start: int = 0) -> int:
        """Search the content in place (no copy); -1 when absent."""
        return self._buf.find(needle, start, self._length)

    def writable(self) -> memoryview:
        """The whole buffer, for `readinto`; call `set_length` with what was read."""
        return memoryview(self._buf)

    def view(self) -> memoryview:
        """The content as a read-only view. Release it (or let it go) before `wipe`."""
        return memoryview(self._buf)[: self._length].toreadonly()

    def wipe(self) -> None:
        wipe(self._buf)
        self._length = 0

    def __enter__(self) -> SecretBuffer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wipe()

    def __del__(self) -> None:
        try:
            self.wipe()
            if self._locked:
                _unlock(self._buf)
        except Exception:  # noqa: BLE001, S110  # nosec B110 - interpreter shutdown: nothing to do
            pass

    def __repr__(self) -> str:
        return f"<SecretBuffer {self._length} bytes, hidden>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SecretBuffer cannot be pickled")


def _harden(buf: bytearray) -> bool:
    """mlock the buffer and mark its pages MADV_DONTDUMP. Silently skipped where not permitted."""
    calls = _memory_calls()
    if calls is None or not buf:
        return False
    import ctypes

    mlock, madvise, _, page, dontdump = calls
    try:
        address = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        locked = bool(mlock(address, len(buf)) == 0)
        start = address - address % page
        madvise(start, address + len(buf) - start, dontdump)
        return locked
    except (AttributeError, OSError, ValueError, TypeError):  # pragma: no cover
        return False


def _unlock(buf: bytearray) -> None:
    calls = _memory_calls()
    if calls is not None and buf:
        import ctypes

        calls[2](ctypes.addressof(ctypes.c_char.from_buffer(buf)), len(buf))


_calls: tuple[Any, Any, Any, int, int] | None = None


def _memory_calls() -> tuple[Any, Any, Any, int, int] | None:
    """libc's mlock, madvise and munlock with their argument types declared once (so a call costs the
    syscall, not ctypes conversions), the page size and MADV_DONTDUMP; None without libc."""
    global _calls
    if _calls is not None:
        return _calls
    libc: Any = _load_libc()
    if libc is None:
        return None
    import ctypes
    import mmap

    functions = []
    for name, argtypes in (
        ("mlock", (ctypes.c_void_p, ctypes.c_size_t)),
        ("madvise", (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)),
        ("munlock", (ctypes.c_void_p, ctypes.c_size_t)),
    ):
        function = getattr(libc, name)
        function.argtypes, function.restype = argtypes, ctypes.c_int
        functions.append(function)
    _calls = (functions[0], functions[1], functions[2], mmap.PAGESIZE, getattr(mmap, "MADV_DONTDUMP", 16))
    return _calls
