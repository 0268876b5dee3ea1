"""A recording reverse proxy in front of the Salesforce emulator, on loopback.

The no-secret-output tests must know every assertion and access token that crossed the wire, whatever
the code under test does inside (and in a child process). The proxy forwards each request to the
emulator unchanged and keeps the `assertion` form field of every token request and the `access_token`
of every answer. The client is pointed at the proxy's token URL; the audience stays the emulator's.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RELAYED_HEADERS = ("Content-Type", "Date", "Location")


class RecordingProxy:
    """`with RecordingProxy(emulator.base_url) as proxy:` then use `proxy.token_url`."""

    def __init__(self, target_base_url: str) -> None:
        self.target = urllib.parse.urlsplit(target_base_url)
        self.assertions: list[str] = []
        self.tokens: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def token_url(self) -> str:
        return self.base_url + "/services/oauth2/token"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _record(self, request_body: bytes, response_body: bytes) -> None:
        form = dict(urllib.parse.parse_qsl(request_body.decode("ascii", "replace")))
        try:
            answer: Any = json.loads(response_body)
        except ValueError:
            answer = None
        with self._lock:
            if form.get("assertion"):
                self.assertions.append(form["assertion"])
            if isinstance(answer, dict) and isinstance(answer.get("access_token"), str):
                self.tokens.append(answer["access_token"])

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.target.hostname or "127.0.0.1", self.target.port, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, [(k, v) for k, v in response.getheaders() if k in _RELAYED_HEADERS], response.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
                status, reply_headers, reply = proxy._forward(self.command, self.path, headers, body)
                if self.command == "POST":
                    proxy._record(body, reply)
                self.send_response_only(status)
                for name, value in reply_headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _relay

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
