"""A loopback Lambda Runtime API (version 2018-06-01), for running a function under AWS's own runtime client.

Written from AWS's published API for custom runtimes. The runtime (here `python -m awslambdaric
handler.handler`, the code inside Lambda's managed Python runtimes) finds it through
`AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>` and speaks:

| request | answer |
|---|---|
| `GET /2018-06-01/runtime/invocation/next` | blocks until `invoke()` queues an event; 200 with the event and the `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn` and `-Trace-Id` headers |
| `POST /2018-06-01/runtime/invocation/<id>/response` | 202 `{"status":"OK"}`; 400 for an id that is not in flight; 413 past 6 MB |
| `POST /2018-06-01/runtime/invocation/<id>/error` | 202; the body (`errorMessage`, `errorType`, `stackTrace`) and the headers (the optional `Lambda-Runtime-Function-Error-Type`, awslambdaric's X-Ray error cause) are kept |
| `POST /2018-06-01/runtime/init/error` | 202 before the first `/next`; 403 after it (the init phase is over) |
| `GET /2018-06-01/runtime/restore/next` | 200 at once: with `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start` the runtime asks for it after init, and the "restored" environment goes on to `/next` |

The first `/next` marks the end of the init phase, as in Lambda. A runtime that posts an init error is
expected to exit. What Lambda does beyond the API (freezing the sandbox between invocations, killing
it at the deadline, the Extensions and Telemetry APIs) is not emulated: the test owns the process.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # synchronous invocation payload limit
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass
class Invocation:
    """One invocation and, once the runtime has answered, its outcome."""

    request_id: str
    event: Any
    deadline_ms: int
    trace_id: str
    outcome: str = ""  # "response" or "error"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # of the runtime's POST
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def payload(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def error_type(self) -> str | None:
        return self.headers.get(ERROR_TYPE_HEADER.lower())


@dataclass
class InitError:
    body: bytes
    headers: dict[str, str]

    @property
    def error_type(self) -> str | None:
        return self.headers.get(ERROR_TYPE_HEADER.lower())

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class InitFailed(RuntimeError):
    """The runtime reported an init error (or exited) instead of asking for an invocation."""


class LambdaRuntimeAPI:
    """The Runtime API on 127.0.0.1 (a free port). Use as a context manager; `address` is the value
    of AWS_LAMBDA_RUNTIME_API."""

    def __init__(
        self,
        *,
        function_name: str = "sfjwt-example",
        region: str = "us-east-1",
        account: str = "123456789012",
        timeout_s: float = 15.0,
    ) -> None:
        self.function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.timeout_s = timeout_s
        self.init_error: InitError | None = None
        self.init_done_at: float | None = None  # time.perf_counter() of the first /next
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        self._queue: queue.Queue[Invocation | None] = queue.Queue()
        self._in_flight: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> LambdaRuntimeAPI:
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._queue.put(None)  # releases a /next that is waiting
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the test's side ---------------------------------------------------------------------------

    def wait_ready(self, timeout: float = 30.0, process: Any = None) -> None:
        """Wait for the end of the init phase (the first /next); InitFailed if the init failed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.init_done_at is None:
                if self.init_error is not None:
                    raise InitFailed(f"init error posted: {self.init_error.payload}")
                if process is not None and process.poll() is not None:
                    raise InitFailed(f"the runtime exited with {process.returncode} during init")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no /next within {timeout} s")
                self._changed.wait(min(remaining, 0.1))

    def wait_init_error(self, timeout: float = 30.0) -> InitError:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.init_error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no init error within {timeout} s")
                self._changed.wait(remaining)
            return self.init_error

    def invoke(self, event: Any, timeout: float = 60.0) -> Invocation:
        """Queue an event, wait for the runtime's response or error, and return the invocation."""
        invocation = Invocation(
            request_id=str(uuid.uuid4()),
            event=event,
            deadline_ms=int((time.time() + self.timeout_s) * 1000),
            trace_id=f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0",
        )
        with self._lock:
            self._in_flight[invocation.request_id] = invocation
        self._queue.put(invocation)
        if not invocation.done.wait(timeout):
            raise TimeoutError(f"invocation {invocation.request_id} got no response within {timeout} s")
        return invocation

    # -- the runtime's side ------------------------------------------------------------------------

    def _next(self) -> Invocation | None:
        with self._changed:
            if self.init_done_at is None:
                self.init_done_at = time.perf_counter()
                self._changed.notify_all()
        return self._queue.get()

    def _finish(self, request_id: str, outcome: str, body: bytes, headers: dict[str, str]) -> HTTPStatus:
        with self._lock:
            invocation = self._in_flight.pop(request_id, None)
        if invocation is None:
            return HTTPStatus.BAD_REQUEST
        invocation.outcome, invocation.body, invocation.headers = outcome, body, headers
        invocation.done.set()
        return HTTPStatus.ACCEPTED

    def _init_error(self, body: bytes, headers: dict[str, str]) -> HTTPStatus:
        with self._changed:
            if self.init_done_at is not None:
                return HTTPStatus.FORBIDDEN
            self.init_error = InitError(body, headers)
            self._changed.notify_all()
        return HTTPStatus.ACCEPTED


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: LambdaRuntimeAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the runtime was killed with its connection open, as the tests end it
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection open between requests
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read the API's record instead

    def do_GET(self) -> None:
        api = self.server.api
        api.requests.append(("GET", self.path))
        if self.path == f"{PREFIX}/restore/next":  # SnapStart: the snapshot is "restored" at once
            self._json(HTTPStatus.OK, {})
            return
        if self.path != f"{PREFIX}/invocation/next":
            self._json(HTTPStatus.NOT_FOUND, {"errorMessage": "unknown path", "errorType": "NotFound"})
            return
        invocation = api._next()
        if invocation is None:  # shutting down; the runtime is usually gone already
            self.close_connection = True
            return
        body = json.dumps(invocation.event).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", api.function_arn)
        self.send_header("Lambda-Runtime-Trace-Id", invocation.trace_id)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        api = self.server.api
        api.requests.append(("POST", self.path))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        parts = self.path.removeprefix(PREFIX + "/").split("/")
        if parts == ["init", "error"]:
            status = api._init_error(body, headers)
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            if parts[2] == "response" and len(body) > MAX_RESPONSE_BYTES:
                status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            else:
                status = api._finish(parts[1], parts[2], body, headers)
        else:
            status = HTTPStatus.NOT_FOUND
        if status == HTTPStatus.ACCEPTED:
            self._json(status, {"status": "OK"})
        else:
            self._json(status, {"errorMessage": status.phrase, "errorType": f"Runtime.{status.name.title()}"})

    def _json(self, status: HTTPStatus, payload: dict[str, str]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
