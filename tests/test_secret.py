"""SecretBuffer and the wipe helpers."""

from __future__ import annotations

import pickle
import tracemalloc

import pytest

from sfjwt_vault.secret import SecretBuffer, wipe, wipe_received_bytes


def test_wipe_zeroes_a_bytearray() -> None:
    data = bytearray(b"-----BEGIN PRIVATE KEY-----")
    wipe(data)
    assert data == bytearray(len(data))


def test_secret_buffer_hides_and_wipes() -> None:
    buffer = SecretBuffer.from_buffer(b"secret material")
    assert len(buffer) == 15 and "secret" not in repr(buffer) and "secret" not in str(buffer)
    assert buffer.find(b"material") == 7
    buffer.wipe()
    assert len(buffer) == 0 and not any(buffer._buf)
    with pytest.raises(TypeError):
        pickle.dumps(SecretBuffer.from_buffer(b"x"))


@pytest.mark.parametrize("kind", ["bytes", "memoryview", "bytearray"])
def test_from_buffer_copies_straight_in_without_a_temporary(kind: str) -> None:
    """No intermediate copy of the secret: it would be freed unwiped. (`bytearray[:n] = view` made one, and
    the DER of every parsed key stayed readable in freed heap: docs/security.md, "Copies into a SecretBuffer".)"""
    size = 64 * 1024
    data = bytearray(b"k" * size)
    source = {"bytes": bytes(data), "memoryview": memoryview(data).toreadonly(), "bytearray": data}[kind]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        buffer = SecretBuffer.from_buffer(source)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert bytes(buffer.view()) == bytes(data)
    # The buffer itself is `size` bytes; one more copy of the secret would take the peak to 2 * size.
    assert size <= peak < size + size // 4


def test_wipe_received_bytes_zeroes_the_payload_in_place() -> None:
    body = bytes(bytearray(b'{"SecretString": "-----BEGIN PRIVATE KEY-----"}'))  # a fresh, unshared object
    wipe_received_bytes(body)
    assert body == bytes(len(body))


def test_wipe_received_bytes_leaves_shared_singletons_alone() -> None:
    one = b"k"
    wipe_received_bytes(one)
    wipe_received_bytes(b"")
    assert one == b"k" and bytes([107]) == b"k"
    not_bytes = bytearray(b"ab")
    wipe_received_bytes(not_bytes)  # type: ignore[arg-type]
    assert not_bytes == bytearray(b"ab")
