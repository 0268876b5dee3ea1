"""The emulator's HTTP/1.1 server: sockets, TLS, bodies (plain or chunked), the request log.

It reads each request completely before answering, or refuses it and closes the connection, so a
keep-alive connection never falls out of step with its client. Over TLS one port serves both HTTPS
and, for clients told `HTTPS_PROXY=http://<this port>`, `CONNECT` tunnels to the names its
certificate holds, ending here: it never connects anywhere else.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.server
import io
import logging
import re
import socket
import socketserver
import ssl
import sys
import threading
import urllib.parse
from email.message import Message
from typing import TYPE_CHECKING, Any

from .certificates import name_matches
from .wire import Reply, Request, json_reply

if TYPE_CHECKING:
    from .emulator import SalesforceEmulator

MAX_BODY = 1024 * 1024  # a token request is a few KiB; refuse to buffer more than this
_MAX_LINE = 4096  # a chunk-size or trailer line
_MAX_TRAILERS = 32
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_TLS_HANDSHAKE = b"\x16"

# One line per request: method, path (query values never shown), status, and a secret-free note.
REQUEST_LOG = logging.getLogger("sfjwt_vault.testing.emulator")


class BadBody(Exception):
    """A request body that cannot be read safely; the connection is closed after the 400."""


def read_body(headers: Message, rfile: io.BufferedIOBase, limit: int = MAX_BODY) -> tuple[bytes, bool]:
    """The body and whether it came chunked. BadBody for anything ambiguous, malformed or too large."""
    encodings = headers.get_all("Transfer-Encoding") or []
    lengths = headers.get_all("Content-Length") or []
    if encodings:
        if lengths:  # both framings at once is how requests are smuggled: refuse
            raise BadBody("both Content-Length and Transfer-Encoding")
        codings = [c.strip().lower() for value in encodings for c in value.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise BadBody("unsupported transfer coding")
        return read_chunked(rfile, limit), True
    if not lengths:
        return b"", False
    values = {value.strip() for value in lengths}
    value = values.pop()
    if values or not value.isascii() or not value.isdigit():
        raise BadBody("malformed Content-Length")
    if int(value) > limit:
        raise BadBody("request body too large")
    body = rfile.read(int(value))
    if len(body) != int(value):
        raise BadBody("request body shorter than its Content-Length")
    return body, False


def read_chunked(rfile: io.BufferedIOBase, limit: int = MAX_BODY) -> bytes:
    """A `Transfer-Encoding: chunked` body (RFC 9112 section 7.1), strictly: CRLF line ends, hex sizes."""
    body = bytearray()
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE or not line.endswith(b"\r\n"):
            raise BadBody("malformed chunked body")
        size_field = line[:-2].split(b";", 1)[0]  # chunk extensions are allowed and ignored
        if not _HEX.fullmatch(size_field):
            raise BadBody("malformed chunked body")
        size = int(size_field, 16)
        if size == 0:
            break
        if len(body) + size > limit:
            raise BadBody("request body too large")
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.read(2) != b"\r\n":
            raise BadBody("malformed chunked body")
        body += chunk
    for _ in range(_MAX_TRAILERS):
        line = rfile.readline(_MAX_LINE + 1)
        if line == b"\r\n":
            return bytes(body)
        if len(line) > _MAX_LINE or not line.endswith(b"\r\n"):
            raise BadBody("malformed chunked body")
    raise BadBody("malformed chunked body")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() and not c.isspace() else f"\\x{ord(c):02x}" for c in text)[:300]


def loggable_target(target: str) -> str:
    """The request target for the log: the path, query parameter names only, no control characters."""
    split = urllib.parse.urlsplit(target)
    shown = split.path or "/"
    if split.query:
        names = dict.fromkeys(name for name, _ in urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        shown += "?" + "&".join(f"{name}=…" for name in names)
    return _printable(shown)


def _first_values(query: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    return values


def _split_authority(target: str) -> tuple[str, int | None]:
    """`host:port` of a CONNECT request; the host without IPv6 brackets."""
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return target.strip("[]"), None
    return host.strip("[]"), int(port)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive clients must not hold up stop()

    def __init__(self, address: tuple[Any, ...], family: socket.AddressFamily, emulator: SalesforceEmulator) -> None:
        self.address_family = family
        self.emulator = emulator
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6 and self.server_address[0] == "::":
            # `::` means every interface: serve IPv4 clients too where the system allows it.
            with contextlib.suppress(OSError):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: it adds a reverse DNS lookup
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up, times out or fails the handshake; tests provoke that."""
        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class EmulatorServer:
    """A started server for one emulator, serving from a daemon thread until `close()`."""

    def __init__(self, emulator: SalesforceEmulator, host: str, port: int) -> None:
        infos = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        self._httpd = _HTTPServer(address, family, emulator)
        self.port: int = self._httpd.server_address[1]
        # A short poll interval keeps close() fast (shutdown waits for the loop to notice).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="salesforce-emulator",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Reads each request, asks the emulator for the reply, writes it, logs one line. Never logs
    headers or bodies, or query values: they carry tokens and assertions."""

    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients expect
    server_version = "SalesforceEmulator/1.0"
    timeout = 30
    wbufsize = 64 * 1024  # headers and body leave in one write; handle_one_request flushes

    def setup(self) -> None:
        # Without NODELAY, a header segment then a body segment meets the peer's delayed ACK: +40 ms.
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.plain_on_tls_port = False
        self.owns_tls_socket = False
        context = self.server.emulator.ssl_context
        if context is not None and not isinstance(self.request, ssl.SSLSocket):
            # One port, two uses: a TLS handshake starts with 0x16; anything else may be a CONNECT.
            self.request.settimeout(self.timeout)
            if self.request.recv(1, socket.MSG_PEEK) == _TLS_HANDSHAKE:
                self.request = context.wrap_socket(self.request, server_side=True)
                self.owns_tls_socket = True
            else:
                self.plain_on_tls_port = True
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.owns_tls_socket:
                self.connection.close()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """BaseHTTPRequestHandler's own lines would show raw request lines; ours are in `_send`."""
        return

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request line or headers too broken to parse: answered by the base class, logged by us."""
        REQUEST_LOG.info("- (unreadable request) %d", code)
        super().send_error(code, message, explain)

    def handle_expect_100(self) -> bool:
        """Send `100 Continue` now: the write buffer would otherwise hold it until the final answer."""
        accepted = super().handle_expect_100()
        self.wfile.flush()
        return accepted

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header, from the emulator's (possibly skewed) clock."""
        return email.utils.formatdate(self.server.emulator.now(), usegmt=True)

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        note = f" {reply.note}" if reply.note else ""
        target = _printable(self.path) if self.command == "CONNECT" else loggable_target(self.path)
        REQUEST_LOG.info("%s %s %d%s", self.command, target, reply.status, note)

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        try:
            body, chunked = read_body(self.headers, self.rfile)
        except BadBody as bad:
            reply = json_reply(400, {"error": "invalid_request", "error_description": str(bad)}, note=str(bad))
            reply.headers["Connection"] = "close"  # what is left of the body cannot be told from a request
            self._send(reply)
            return
        if chunked:
            with emulator.lock:
                emulator.chunked_requests += 1
        if self.plain_on_tls_port:
            reply = json_reply(400, {"error": "invalid_request", "error_description": "this emulator speaks https"})
            reply.headers["Connection"] = "close"
            self._send(reply)
            return
        split = urllib.parse.urlsplit(self.path)
        request = Request(self.command, split.path, _first_values(split.query), self.headers, body)
        self._send(emulator.handle(request))

    do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def do_CONNECT(self) -> None:
        """An HTTPS proxy request: tunnel to this emulator itself, for the names its certificate holds."""
        emulator = self.server.emulator
        host, port = _split_authority(self.path)
        context = emulator.ssl_context
        served = port is not None and any(name_matches(host, name) for name in emulator.tls_names)
        if context is None or not self.plain_on_tls_port or not served:
            message = "the emulator tunnels only to itself, for the names its TLS certificate holds"
            reply = json_reply(403, {"error": "forbidden", "error_description": message}, note="not tunnelled")
            reply.headers["Connection"] = "close"
            self._send(reply)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        REQUEST_LOG.info("CONNECT %s 200 tunnel", _printable(self.path))
        self.close_connection = True
        tunnel = context.wrap_socket(self.connection, server_side=True)
        try:
            _Handler(tunnel, self.client_address, self.server)
        finally:
            tunnel.close()
