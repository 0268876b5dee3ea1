"""SecretBuffer's best-effort hardening, checked in the kernel's own view of the pages."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

from sfjwt_vault.keys import MAX_KEY_BYTES
from sfjwt_vault.secret import SecretBuffer


def _vm_flags(address: int) -> set[str]:
    """The VmFlags of the mapping holding `address`, from /proc/self/smaps."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            start, end = (int(x, 16) for x in head.split("-"))
            inside = start <= address < end
        elif inside and line.startswith("VmFlags:"):
            return set(line.split()[1:])
    raise AssertionError("address not mapped")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmFlags are in Linux's /proc/<pid>/smaps")
def test_key_buffer_pages_are_excluded_from_core_dumps_and_locked() -> None:
    if not Path("/proc/self/smaps").exists():
        pytest.skip("no /proc/self/smaps")
    buffer = SecretBuffer(MAX_KEY_BYTES + 1)  # the file backend's buffer size
    view = buffer.writable()
    address = ctypes.addressof((ctypes.c_char * len(view)).from_buffer(view))
    view.release()
    flags = [_vm_flags(address), _vm_flags(address + buffer.capacity - 1)]
    for page_flags in flags:
        assert "dd" in page_flags, "MADV_DONTDUMP was not applied to the key buffer"
    if buffer._locked:
        for page_flags in flags:
            assert "lo" in page_flags
    else:
        pytest.skip("mlock was not permitted here (RLIMIT_MEMLOCK); DONTDUMP checked")
