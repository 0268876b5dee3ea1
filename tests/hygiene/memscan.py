"""Scan another process's memory for key material, without the scanner holding the key in plain.

A needle is stored as its SHA-256 plus a 4-byte prefix XOR-masked with a random pad. The scan unmasks
only that prefix, finds candidate offsets with it, and hashes the 32-byte window at each candidate:
the whole needle never exists in the scanning process. The scan reads /proc/<pid>/maps and
/proc/<pid>/mem from OUTSIDE the process (a process scanning itself finds its own scan buffers).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from dataclasses import dataclass

NEEDLE_LEN = 32
PREFIX_LEN = 4
CHUNK = 8 * 1024 * 1024
SKIP_REGIONS = ("[vvar]", "[vvar_vclock]", "[vsyscall]")


@dataclass(frozen=True)
class Needle:
    """What the scanner knows of one secret 32-byte run: its kind, its hash, its masked prefix."""

    kind: str
    digest: bytes
    masked_prefix: bytes
    pad: bytes

    @classmethod
    def of(cls, kind: str, value: bytes) -> Needle:
        if len(value) != NEEDLE_LEN:
            raise ValueError("needles are 32 bytes")
        pad = secrets.token_bytes(PREFIX_LEN)
        masked = bytes(a ^ b for a, b in zip(value[:PREFIX_LEN], pad, strict=True))
        return cls(kind, hashlib.sha256(value).digest(), masked, pad)

    def prefix(self) -> bytes:
        return bytes(a ^ b for a, b in zip(self.masked_prefix, self.pad, strict=True))

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "digest": self.digest.hex(),
            "masked": self.masked_prefix.hex(),
            "pad": self.pad.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Needle:
        return cls(
            data["kind"], bytes.fromhex(data["digest"]), bytes.fromhex(data["masked"]), bytes.fromhex(data["pad"])
        )


def key_needles(pem: bytes, d: int, p: int, modulus_bytes: int) -> list[Needle]:
    """Needles for a PEM and its private exponent and first prime (top 32 bytes, both byte orders).

    PEM: a 32-character run from the first, the middle and the last full base64 line of the body, and
    the same runs as they appear once the line breaks are gone (a decoder's joined copy).
    """
    lines = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    full = [line for line in lines if len(line) >= 2 * NEEDLE_LEN]
    needles: list[Needle] = []
    for i, line in enumerate((full[0], full[len(full) // 2], full[-2])):
        needles.append(Needle.of(f"pem_line{i}", line[8 : 8 + NEEDLE_LEN]))
    joined = b"".join(lines)
    for i, index in enumerate((0, len(full) // 2)):
        # a run that straddles a line break in the file: only a copy without newlines contains it
        start = sum(len(line) for line in lines[: index + 1]) - NEEDLE_LEN // 2
        needles.append(Needle.of(f"pem_joined{i}", joined[start : start + NEEDLE_LEN]))
    d_be = d.to_bytes(modulus_bytes, "big")[:NEEDLE_LEN]
    p_be = p.to_bytes(modulus_bytes // 2, "big")[:NEEDLE_LEN]
    needles += [
        Needle.of("d_be", d_be),
        Needle.of("d_le", d_be[::-1]),
        Needle.of("p_be", p_be),
        Needle.of("p_le", p_be[::-1]),
    ]
    return needles


class ScanUnavailable(Exception):
    """This process may not read the target's memory (no /proc/<pid>/mem or no ptrace rights)."""


def readable_regions(pid: int) -> list[tuple[int, int, str]]:
    regions = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if fields[1][0] == "r" and name not in SKIP_REGIONS:
                regions.append((start, end, name))
    return regions


def scan(pid: int, needles: list[Needle]) -> tuple[Counter[str], int]:
    """Hits per needle kind in the readable memory of `pid`, and the number of bytes read."""
    hits: Counter[str] = Counter({n.kind: 0 for n in needles})
    by_prefix: dict[bytes, list[Needle]] = {}
    for needle in needles:
        by_prefix.setdefault(needle.prefix(), []).append(needle)
    total = 0
    try:
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    except OSError as exc:
        raise ScanUnavailable(f"cannot open /proc/{pid}/mem: {exc.strerror}") from None
    with mem:
        for start, end, _name in readable_regions(pid):
            offset = start
            tail = b""
            while offset < end:
                size = min(CHUNK, end - offset)
                try:
                    mem.seek(offset)
                    chunk = mem.read(size)
                except PermissionError as exc:
                    raise ScanUnavailable(f"reading /proc/{pid}/mem: {exc.strerror}") from None
                except OSError:  # EIO: a guard page or an unbacked mapping
                    chunk = b""
                if not chunk:
                    tail = b""
                    offset += size
                    continue
                total += len(chunk)
                data = tail + chunk
                for prefix, group in by_prefix.items():
                    pos = data.find(prefix)
                    while pos >= 0:
                        window = data[pos : pos + NEEDLE_LEN]
                        if len(window) == NEEDLE_LEN:
                            digest = hashlib.sha256(window).digest()
                            for needle in group:
                                if digest == needle.digest:
                                    hits[needle.kind] += 1
                        pos = data.find(prefix, pos + 1)
                # keep the last 31 bytes so a needle across a chunk boundary is seen once
                tail = data[-(NEEDLE_LEN - 1) :]
                offset += len(chunk)
                del data, chunk
    return hits, total
