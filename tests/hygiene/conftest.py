"""Fixtures for the memory-hygiene tests: a scan key made by a setup child, an emulator that trusts it,
and a runner that starts a child, waits for its mint and scans its memory from outside."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sfjwt_vault.plugins import PluginHost
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
    # Secret stores whose SDK receives the PEM as an HTTP body (botocore, requests) may leave PEM runs in
    # freed memory we cannot wipe: measured and reported, not asserted. `d`/`p` must still be 0.
    sdk_copies: bool = False
    # Remote signers: the key never enters the process, so the child must create no SecretBuffer.
    remote: bool = False


@dataclass
class ScanResult:
    hits: Counter[str]
    bytes_scanned: int
    stdout: str

    def total(self, prefix: str = "") -> int:
        return sum(n for kind, n in self.hits.items() if kind.startswith(prefix))

    @property
    def secret_buffers(self) -> int:
        """How many SecretBuffers the child created (it prints the count after the mint)."""
        for line in self.stdout.splitlines():
            if line.startswith("secret_buffers="):
                return int(line.split("=", 1)[1])
        raise AssertionError("the child did not report its SecretBuffer count")


# Loggers set to DEBUG besides every logger that exists when the test starts (some are created on import).
LIBRARY_LOGGERS = ("sfjwt_vault", "httpx", "httpcore", "botocore", "boto3", "urllib3", "hvac", "requests")


@contextmanager
def loggers_at_debug(handler: logging.Handler, names: Iterable[str]) -> Iterator[None]:
    """`handler` on the root logger, and the root and `names` at DEBUG, until the block ends (levels restored)."""
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in names}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in saved[1]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Every record at DEBUG from every logger, formatted with tracebacks, as a log file would hold it.

    The root logger and every library logger are set to DEBUG (an application that turns everything on,
    or `sfjwt --debug`), and any level a logger had is restored afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    existing = {
        name for name, logger in logging.Logger.manager.loggerDict.items() if isinstance(logger, logging.Logger)
    }
    with loggers_at_debug(handler, set(LIBRARY_LOGGERS) | existing):
        yield stream


def reset_plugin_state() -> None:
    """Forget the cloud plugins' process-wide clients, sessions and cached public keys."""
    from sfjwt_vault_aws import clients, kms
    from sfjwt_vault_hashicorp import session, transit

    clients.reset_clients()
    kms.reset_cache()
    session.reset_sessions()
    transit.reset_cache()


def with_cloud_plugins(host: PluginHost | None = None) -> PluginHost:
    """`host` (else a new one with the file plugin) with the AWS and Vault plugins registered too."""
    import sfjwt_vault_aws
    import sfjwt_vault_file
    import sfjwt_vault_hashicorp

    if host is None:
        host = PluginHost(load_entry_points=False)
        host.register(sfjwt_vault_file, "file")
    host.register(sfjwt_vault_aws, "aws")
    host.register(sfjwt_vault_hashicorp, "vault")
    return host


def use_stores(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    host: PluginHost | None = None,
) -> PluginHost:
    """The stores' settings as the only AWS/Vault settings in the environment, fresh plugin state (again
    after the test), and `host` (else a new one) with the file, AWS and Vault plugins."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "VAULT_", "BAO_", "SFJWT_VAULT_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_plugin_state()
    request.addfinalizer(reset_plugin_state)
    return with_cloud_plugins(host)


# Every measurement, for the terminal summary (CI logs show the counts without -s).
MEASURED: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASURED:
        terminalreporter.section("key hygiene: needle hits per child (tests/hygiene/test_memory.py)")
        for line in MEASURED:
            terminalreporter.write_line(line)


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_", "AWS_", "VAULT_", "BAO_"))}
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
        cwd=ROOT,
        env=_child_env({}),
        capture_output=True,
        check=True,
        timeout=60,
    )
    needles = [Needle.from_json(item) for item in json.loads(out.stdout)]
    return ScanKey(directory, directory / "key.pem", (directory / "cert.pem").read_bytes(), needles)


@dataclass(frozen=True)
class Stores:
    """The secret stores and remote signers holding the scan key: references, and the child's settings."""

    refs: dict[str, str]
    env: dict[str, str]


def _start_byok_moto(key: ScanKey) -> tuple[str, subprocess.Popen[bytes]]:
    from tests.servers import start_moto

    env = {**_child_env({}), "SFJWT_TEST_BYOK_PEM": str(key.pem_path)}
    return start_moto(key.directory, env=env, command=[sys.executable, "-m", "tests.hygiene.moto_byok"])


@pytest.fixture(scope="session")
def stores(scan_key: ScanKey, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """A moto server (KMS keys made from the scan key) and OpenBao (reused from SFJWT_TEST_BAO_ADDR if set),
    with the scan key uploaded by a child: the parent only ever learns references."""
    import uuid

    import hvac

    from tests.servers import DevServer, start_dev_server, stop

    moto_url, moto = _start_byok_moto(scan_key)
    server: DevServer | None = None
    try:
        addr, token = os.environ.get("SFJWT_TEST_BAO_ADDR"), os.environ.get("SFJWT_TEST_BAO_TOKEN")
        if not (addr and token):
            server = start_dev_server(tmp_path_factory.mktemp("bao-home"))
            addr, token = server.addr, server.token
        admin = hvac.Client(url=addr, token=token)
        mounts = admin.sys.list_mounted_secrets_engines()["data"]
        if "transit/" not in mounts:
            admin.sys.enable_secrets_engine("transit", path="transit")
        if "secret/" not in mounts:
            admin.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        home = tmp_path_factory.mktemp("home")
        env = {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "VAULT_ADDR": addr,
            "VAULT_TOKEN": token,
            "HOME": str(home),
        }
        out = subprocess.run(
            [sys.executable, "-m", "tests.hygiene.child", "upload", str(scan_key.directory)],
            cwd=ROOT,
            env=_child_env({**env, "SFJWT_TEST_STORE_TAG": uuid.uuid4().hex[:10]}),
            capture_output=True,
            check=False,
            timeout=60,
        )
        if out.returncode != 0:
            pytest.fail(f"uploading the scan key failed: {out.stderr.decode()[-2000:]}")
        yield Stores(json.loads(out.stdout), env)
    finally:
        stop(moto)
        if server is not None:
            server.stop()


@pytest.fixture(scope="module")
def scan_emulator(scan_key: ScanKey) -> Iterator[tuple[SalesforceEmulator, str, str]]:
    """An emulator with one app that trusts the scan key, and one user: (emulator, consumer key, user)."""
    with SalesforceEmulator() as emulator:
        app = emulator.add_app(scan_key.certificate_pem)
        user = emulator.add_user("hygiene@acme.com")
        yield emulator, app.consumer_key, user.username


@pytest.fixture
def run_and_scan(scan_key: ScanKey, scan_emulator: tuple[SalesforceEmulator, str, str]) -> Callable[..., ScanResult]:
    emulator, consumer_key, username = scan_emulator

    def runner(
        mode: str,
        key_ref: str,
        *,
        plugins: str = "sfjwt_vault_file:file",
        env: dict[str, str] | None = None,
        mints: int = 1,
    ) -> ScanResult:
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
            cwd=ROOT,
            env=_child_env(settings),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
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
                pytest.fail(
                    f"child exited {child.returncode} before the scan: {child.stderr.read()[-2000:] if child.stderr else ''}"
                )
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
