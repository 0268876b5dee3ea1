"""Fixtures for the memory-hygiene tests: a scan key made by a setup child, an emulator that trusts it,
and a runner that starts a child, waits for its mint and scans its memory from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sfjwt_vault.testing import SalesforceEmulator
from tests.hygiene.memscan import Needle, ScanUnavailable, scan

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ScanKey:
    """The key under test, as the parent knows it: where it is, its certificate, masked needles."""

    directory: Path
    pem_path: Path
    certificate_pem: bytes
    needles: list[Needle]


@dataclass(frozen=True)
class BackendCase:
    """How a child reaches the scan key. Adding a backend is one of these: `prepare` puts the key
    where the backend reads it (e.g. a moto secret, a Vault KV path) and returns the key reference
    and any extra environment the child needs; `plugins` are `module:name` pairs to register."""

    name: str
    prepare: Callable[[ScanKey, pytest.FixtureRequest], tuple[str, dict[str, str]]]
    plugins: str = "sfjwt_vault_file:file"
    marks: tuple[pytest.MarkDecorator, ...] = field(default_factory=tuple)


@dataclass
class ScanResult:
    hits: Counter[str]
    bytes_scanned: int
    stdout: str

    def total(self, prefix: str = "") -> int:
        return sum(n for kind, n in self.hits.items() if kind.startswith(prefix))


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins")])
    env.update(extra)
    return env


def _require_proc() -> None:
    if not sys.platform.startswith("linux") or not Path("/proc/self/mem").exists():
        pytest.skip("needs Linux /proc/<pid>/mem to read a child's memory")


@pytest.fixture(scope="session")
def scan_key(tmp_path_factory: pytest.TempPathFactory) -> ScanKey:
    """A fresh key made by a setup child: the parent gets needle hashes and masked prefixes only."""
    _require_proc()
    directory = tmp_path_factory.mktemp("scan-key")
    out = subprocess.run(
        [sys.executable, "-m", "tests.hygiene.child", "setup", str(directory)],
        cwd=ROOT, env=_child_env({}), capture_output=True, check=True, timeout=60,
    )
    needles = [Needle.from_json(item) for item in json.loads(out.stdout)]
    return ScanKey(directory, directory / "key.pem", (directory / "cert.pem").read_bytes(), needles)


@pytest.fixture(scope="module")
def scan_emulator(scan_key: ScanKey) -> Iterator[tuple[SalesforceEmulator, str, str]]:
    """An emulator with one app that trusts the scan key, and one user: (emulator, consumer key, user)."""
    with SalesforceEmulator() as emulator:
        app = emulator.add_app(scan_key.certificate_pem)
        user = emulator.add_user("hygiene@acme.com")
        yield emulator, app.consumer_key, user.username


@pytest.fixture
def run_and_scan(
    scan_key: ScanKey, scan_emulator: tuple[SalesforceEmulator, str, str]
) -> Callable[..., ScanResult]:
    emulator, consumer_key, username = scan_emulator

    def runner(mode: str, key_ref: str, *, plugins: str = "sfjwt_vault_file:file", env: dict[str, str] | None = None, mints: int = 1) -> ScanResult:
        settings = {
            "SF_CONSUMER_KEY": consumer_key,
            "SF_USERNAME": username,
            "SFJWT_KEY": key_ref,
            "SF_AUDIENCE": emulator.audience,
            "SF_TOKEN_URL": emulator.token_url,
            "SFJWT_TEST_PLUGINS": plugins,
            **(env or {}),
        }
        issued = emulator.tokens_issued
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.hygiene.child", mode],
            cwd=ROOT, env=_child_env(settings), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        try:
            assert child.stdout is not None and child.stdin is not None
            lines = []
            for line in child.stdout:
                if line.strip() == "ready":
                    break
                lines.append(line)
            else:
                child.wait(timeout=30)
                pytest.fail(f"child exited {child.returncode} before the scan: {child.stderr.read()[-2000:] if child.stderr else ''}")
            assert emulator.tokens_issued == issued + mints, "the child did not mint through the emulator"
            try:
                hits, scanned = scan(child.pid, scan_key.needles)
            except ScanUnavailable as exc:
                pytest.skip(f"cannot read the child's memory: {exc}")
            child.stdin.write("done\n")
            child.stdin.close()
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        return ScanResult(hits, scanned, "".join(lines))

    return runner
