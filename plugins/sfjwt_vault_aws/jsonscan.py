"""A tiny JSON scanner that works on buffers, so a secret is located and decoded without `str` copies.

`json.loads` would turn the secret into an immutable `str` we cannot wipe. These functions walk one
top-level JSON object in a bytes-like buffer, report where each member's value is, and decode a JSON
string value (escapes included) straight into a writable buffer. Only member names become `str`;
names are not secret. Decoding never grows the data, so it can decode a value in place.
"""

from __future__ import annotations

from collections.abc import Iterator

_WS = b" \t\r\n"
_ESCAPES = {0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 8, 0x66: 12, 0x6E: 10, 0x72: 13, 0x74: 9}  # "\/bfnrt


class JsonScanError(ValueError):
    """The buffer is not the JSON we expected. The message never quotes the data."""


def skip_ws(data: memoryview | bytes | bytearray, i: int, end: int) -> int:
    while i < end and data[i] in _WS:
        i += 1
    return i


def members(data: memoryview | bytes | bytearray, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """Yield (name, value_start, value_end) for each member of the object at `start`.

    For a string value the span is its content between the quotes (still escaped).
    """
    i = skip_ws(data, start, end)
    if i >= end or data[i] != 0x7B:  # {
        raise JsonScanError("not a JSON object")
    i = skip_ws(data, i + 1, end)
    if i < end and data[i] == 0x7D:
        return
    while True:
        if i >= end or data[i] != 0x22:
            raise JsonScanError("expected a member name")
        name_end = _string_end(data, i + 1, end)
        name = bytes(data[i + 1 : name_end]).decode("utf-8", "replace")
        if "\\" in name:
            name = _decode_name(data, i + 1, name_end)
        i = skip_ws(data, name_end + 1, end)
        if i >= end or data[i] != 0x3A:  # :
            raise JsonScanError("expected ':'")
        i = skip_ws(data, i + 1, end)
        value_start, value_end, i = _value(data, i, end)
        yield name, value_start, value_end
        i = skip_ws(data, i, end)
        if i < end and data[i] == 0x2C:  # ,
            i = skip_ws(data, i + 1, end)
            continue
        if i < end and data[i] == 0x7D:
            return
        raise JsonScanError("expected ',' or '}'")


def is_string_value(data: memoryview | bytes | bytearray, value_start: int) -> bool:
    return value_start > 0 and data[value_start - 1] == 0x22


def decode_string(src: memoryview | bytes | bytearray, start: int, end: int, dst: memoryview, at: int = 0) -> int:
    """Decode the escaped JSON string content src[start:end] into dst[at:]; return the end position.

    dst may be the same memory as src when `at <= start` (decoding never writes ahead of reading).
    """
    i, o = start, at
    # A bytes source (the HTTP body) is immutable, so it cannot overlap dst: copy each run between two
    # escapes in one slice assignment through a memoryview (no copy of its own), not byte by byte.
    whole = memoryview(src) if isinstance(src, bytes) else None
    while i < end:
        if whole is not None:
            stop = src.find(b"\\", i, end)  # type: ignore[union-attr]
            stop = end if stop < 0 else stop
            if stop > i:
                dst[o : o + stop - i] = whole[i:stop]
                o += stop - i
                i = stop
                continue
        c = src[i]
        if c != 0x5C:
            dst[o] = c
            i += 1
            o += 1
            continue
        if i + 1 >= end:
            raise JsonScanError("truncated escape")
        e = src[i + 1]
        if e in _ESCAPES:
            dst[o] = _ESCAPES[e]
            i += 2
            o += 1
            continue
        if e != 0x75:  # u
            raise JsonScanError("bad escape")
        code = _hex4(src, i + 2, end)
        i += 6
        if 0xD800 <= code < 0xDC00 and i + 6 <= end and src[i] == 0x5C and src[i + 1] == 0x75:
            low = _hex4(src, i + 2, end)
            if 0xDC00 <= low < 0xE000:
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                i += 6
        o = _put_utf8(dst, o, code)
    return o


def decode_base64(src: memoryview | bytes | bytearray, start: int, end: int, dst: memoryview) -> int:
    """Standard base64 (JSON blob fields) from src[start:end] into dst, without a `bytes` result."""
    acc = 0
    bits = 0
    o = 0
    for i in range(start, end):
        c = src[i]
        if c == 0x3D:  # =
            break
        value = _B64.get(c)
        if value is None:
            if c in _WS or c == 0x5C:  # whitespace, or an escaped slash "\/"
                continue
            raise JsonScanError("not base64")
        acc = (acc << 6) | value
        bits += 6
        if bits >= 8:
            bits -= 8
            dst[o] = (acc >> bits) & 0xFF
            o += 1
            acc &= (1 << bits) - 1  # keep only the undecoded bits: the int never holds the secret
    return o


_B64 = {c: n for n, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def escape_into(src: memoryview, dst: memoryview, at: int) -> int:
    """Write src into dst[at:] as JSON string content; dst needs room for 6 bytes per input byte."""
    o = at
    for c in src:
        if c in (0x22, 0x5C):
            dst[o], dst[o + 1] = 0x5C, c
            o += 2
        elif c < 0x20:
            short = {0x0A: 0x6E, 0x0D: 0x72, 0x09: 0x74}.get(c)
            if short is not None:
                dst[o], dst[o + 1] = 0x5C, short
                o += 2
            else:
                dst[o : o + 6] = b"\\u00%02x" % c
                o += 6
        else:
            dst[o] = c
            o += 1
    return o


def _string_end(data: memoryview | bytes | bytearray, i: int, end: int) -> int:
    if isinstance(data, bytes):  # the HTTP body: search, not a Python loop per byte
        while i < end:
            quote = data.find(b'"', i, end)
            if quote < 0:
                break
            escape = data.find(b"\\", i, quote)
            if escape < 0:
                return quote
            i = escape + 2
        raise JsonScanError("unterminated string")
    while i < end:
        c = data[i]
        if c == 0x5C:
            i += 2
            continue
        if c == 0x22:
            return i
        i += 1
    raise JsonScanError("unterminated string")


def _value(data: memoryview | bytes | bytearray, i: int, end: int) -> tuple[int, int, int]:
    """(value_start, value_end, next index) for the value at i; strings exclude their quotes."""
    if i >= end:
        raise JsonScanError("missing value")
    c = data[i]
    if c == 0x22:
        close = _string_end(data, i + 1, end)
        return i + 1, close, close + 1
    if c in (0x7B, 0x5B):  # { [
        depth = 0
        j = i
        while j < end:
            d = data[j]
            if d == 0x22:
                j = _string_end(data, j + 1, end) + 1
                continue
            if d in (0x7B, 0x5B):
                depth += 1
            elif d in (0x7D, 0x5D):
                depth -= 1
                if depth == 0:
                    return i, j + 1, j + 1
            j += 1
        raise JsonScanError("unterminated container")
    j = i
    while j < end and data[j] not in b",}] \t\r\n":
        j += 1
    if j == i:
        raise JsonScanError("missing value")
    return i, j, j


def _decode_name(data: memoryview | bytes | bytearray, start: int, end: int) -> str:
    out = bytearray(end - start)
    n = decode_string(data, start, end, memoryview(out))
    return out[:n].decode("utf-8", "replace")


def _hex4(src: memoryview | bytes | bytearray, i: int, end: int) -> int:
    if i + 4 > end:
        raise JsonScanError("truncated \\u escape")
    value = 0
    for k in range(i, i + 4):
        c = src[k]
        if 0x30 <= c <= 0x39:
            digit = c - 0x30
        elif 0x41 <= c <= 0x46:
            digit = c - 0x37
        elif 0x61 <= c <= 0x66:
            digit = c - 0x57
        else:
            raise JsonScanError("bad \\u escape")
        value = value * 16 + digit
    return value


def _put_utf8(dst: memoryview, o: int, code: int) -> int:
    if code < 0x80:
        dst[o] = code
        return o + 1
    if code < 0x800:
        dst[o] = 0xC0 | (code >> 6)
        dst[o + 1] = 0x80 | (code & 0x3F)
        return o + 2
    if code < 0x10000:
        dst[o] = 0xE0 | (code >> 12)
        dst[o + 1] = 0x80 | ((code >> 6) & 0x3F)
        dst[o + 2] = 0x80 | (code & 0x3F)
        return o + 3
    dst[o] = 0xF0 | (code >> 18)
    dst[o + 1] = 0x80 | ((code >> 12) & 0x3F)
    dst[o + 2] = 0x80 | ((code >> 6) & 0x3F)
    dst[o + 3] = 0x80 | (code & 0x3F)
    return o + 4
