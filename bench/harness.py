"""What every benchmark shares: statistics, a TLS emulator reached as login.salesforce.com, test keys.

The emulator is a real HTTPS server on 127.0.0.1. Clients that insist on https://login.salesforce.com
(simple-salesforce builds that URL itself, on port 443) are routed to it by patching
`socket.getaddrinfo` inside this process only: the names below resolve to 127.0.0.1 and the emulator's
port, whatever port was asked for. TLS still verifies the certificate for the real host name, against
a throwaway CA that the emulator's certificate is signed with.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
from cryptography.hazmat.primitives import serialization

from sfjwt_vault.testing import SalesforceEmulator, make_test_keypair, make_tls_context

ROUTED_NAMES = ("login.salesforce.com", "test.salesforce.com")
LOGIN_TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"  # noqa: S105 - a URL
USERNAME = "bench@acme.com"


# -- statistics ------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def summarize(samples: list[float]) -> dict[str, float]:
    """Median and spread (p10/p90) of samples, in the samples' unit."""
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "median": statistics.median(ordered) if ordered else float("nan"),
        "p10": percentile(ordered, 10),
        "p90": percentile(ordered, 90),
        "min": ordered[0] if ordered else float("nan"),
    }


def timed_ms(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def interleaved_ms(contenders: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Each contender once to warm up, then `rounds` rounds of A B C, B C A, C A B, ...: machine noise
    hits every contender alike, and each takes each place in the round equally often (the one after a
    heavy contender pays for its garbage), so their ratios hold on a shared machine."""
    for fn in contenders.values():
        fn()
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(rounds):
        start = round_ % len(names)
        for name in names[start:] + names[:start]:
            samples[name].append(timed_ms(contenders[name]))
    return samples


# -- the emulator, as login.salesforce.com ---------------------------------------------------------


@dataclass
class Org:
    """A started TLS emulator with one app and user, the key on disk and the CA to trust."""

    emulator: SalesforceEmulator
    consumer_key: str
    username: str
    key_path: Path
    ca_path: Path  # the throwaway CA alone
    key_pem: bytes
    workdir: Path
    bundle_path: Path  # certifi's CA bundle plus the throwaway CA: what a TLS set-up really loads

    @property
    def port(self) -> int:
        return self.emulator.port


@contextlib.contextmanager
def started_org() -> Iterator[Org]:
    """A TLS emulator named login.salesforce.com, a test key pair and its files, for one run."""
    context, ca_pem = make_tls_context(list(ROUTED_NAMES))
    key, cert_pem = make_test_keypair()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.TemporaryDirectory(prefix="sfjwt-bench-") as tmp:
        workdir = Path(tmp)
        key_path = workdir / "server.key"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        ca_path = workdir / "ca.pem"
        ca_path.write_bytes(ca_pem)
        bundle_path = workdir / "bundle.pem"
        bundle_path.write_bytes(Path(certifi.where()).read_bytes() + ca_pem)
        # Every exchange is a login: lift the per-user hourly cap, the benchmark makes thousands.
        with SalesforceEmulator(ssl_context=context, login_rate_limit=10**9) as emulator:
            app = emulator.add_app(cert_pem)
            emulator.add_user(USERNAME)
            yield Org(emulator, app.consumer_key, USERNAME, key_path, ca_path, key_pem, workdir, bundle_path)


@contextlib.contextmanager
def routed_to(port: int, ca_path: Path) -> Iterator[None]:
    """Resolve ROUTED_NAMES to 127.0.0.1:port in this process, and make requests trust the test CA."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host in ROUTED_NAMES:
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, service, *args, **kwargs)

    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_path)
    try:
        yield
    finally:
        socket.getaddrinfo = real
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
