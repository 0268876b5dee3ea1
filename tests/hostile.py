"""Hostile servers on 127.0.0.1 for the fault tests: they drip, reset, hang or answer nonsense.

Real sockets in daemon threads (no mocking): the client under test talks to them as to any server.
Each server counts what it saw, so tests assert behaviour and counts, never durations.
"""

from __future__ import annotations

import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import pytest

from tests.servers import free_port


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body, or a chunked one) from `conn`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class RawServer:
    """Accepts connections and hands each to `handler(conn, server)` in its own thread."""

    def __init__(self, handler: Callable[[socket.socket, RawServer], None]) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/services/oauth2/token"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self._sock.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def client_gone(conn: socket.socket) -> bool:
    """True once the peer closed its end (readable with nothing to read) or reset it."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Drip:
    """Answers every request by sending `head` at once, then `drip` one byte every `interval` seconds,
    stopping when the client hangs up. `sent` counts dripped bytes; `finished` counts full drips."""

    def __init__(self, head: bytes, drip: bytes, interval: float = 0.5) -> None:
        self.head, self.drip, self.interval = head, drip, interval
        self.sent = 0
        self.finished = 0
        self.hung_up = 0
        self.server = RawServer(self._handle)

    def _handle(self, conn: socket.socket, server: RawServer) -> None:
        with server.lock:
            server.requests.append(read_request(conn))
        conn.sendall(self.head)
        for byte in self.drip:
            if client_gone(conn):
                with server.lock:
                    self.hung_up += 1
                return
            conn.sendall(bytes([byte]))
            with server.lock:
                self.sent += 1
            time.sleep(self.interval)
        with server.lock:
            self.finished += 1


def drip_in_headers(interval: float = 0.5, length: int = 60) -> Drip:
    """A status line and headers that never end: a byte every `interval` seconds."""
    return Drip(b"", (b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * length + b"\r\n\r\n"), interval)


def drip_in_body(interval: float = 0.5, length: int = 60) -> Drip:
    """Headers at once, then a JSON body a byte every `interval` seconds."""
    body = b'{"padding": "' + b"x" * length + b'"}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    return Drip(head, body, interval)


def reply(status: int, body: bytes, headers: dict[str, str] | None = None) -> RawServer:
    """Answers every request with this status, body and headers."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    raw = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body

    def handle(conn: socket.socket, server: RawServer) -> None:
        with server.lock:
            server.requests.append(read_request(conn))
        conn.sendall(raw)

    return RawServer(handle)


def reset_mid_answer() -> RawServer:
    """Sends the start of a 200 answer, then resets the connection (RST, not a clean close)."""

    def handle(conn: socket.socket, server: RawServer) -> None:
        with server.lock:
            server.requests.append(read_request(conn))
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"access_')
        time.sleep(0.05)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return RawServer(handle)


def hung() -> RawServer:
    """Accepts connections and never answers (until stopped)."""

    def handle(conn: socket.socket, server: RawServer) -> None:
        while not server._stopped.wait(0.2):
            if client_gone(conn):
                return

    return RawServer(handle)


class ProxyRecorder:
    """A real HTTP proxy in its own process (`python -m tests.proxy_recorder`) that records every byte
    it receives from clients. CONNECT to a routed host is tunnelled to the given local port."""

    def __init__(self, log: Path, routes: dict[str, int] | None = None) -> None:
        self.log = log
        self.port = free_port()
        args = [sys.executable, "-m", "tests.proxy_recorder", str(self.port), str(log)]
        args += [f"{host}={port}" for host, port in (routes or {}).items()]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the proxy recorder did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self) -> bytes:
        return self.log.read_bytes() if self.log.exists() else b""

    def set_as_every_proxy(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every proxy variable (both spellings) names this proxy, and nothing is exempt from it."""
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, self.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)

    def __enter__(self) -> ProxyRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
