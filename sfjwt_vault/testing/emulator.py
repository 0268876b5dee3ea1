"""An offline stand-in for Salesforce's OAuth 2.0 token endpoint and a small REST surface.

It is a real HTTP(S) server on 127.0.0.1, so clients are exercised end to end (sockets, headers, JSON)
rather than through mocks. Its answers follow /work/shared/salesforce-facts.md: the exact error strings,
no `refresh_token`/`expires_in`, sliding session lifetime, the per-user login rate limit. Faults
(5xx, HTML pages, stalls, redirects, huge bodies) can be injected to test retry and safety code.

Nothing here logs or prints tokens or assertions; the access tokens it issues are stored only as
SHA-256 digests.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import datetime
import email.utils
import hashlib
import hmac
import http.server
import ipaddress
import json
import re
import secrets
import signal
import socket
import ssl
import string
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..certs import certificate_pem, self_signed_certificate
from ..signer import LocalSigner

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_URL = "https://login.salesforce.com"
TEST_URL = "https://test.salesforce.com"
API_VERSION = "65.0"
API_LABEL = "Winter '26"
FAULTS = ("503", "500", "html", "empty", "stall", "unknown_error", "redirect", "huge", "rate")
REST_BLOCKS = ("not_rest", "limit")
MAX_BODY = 1024 * 1024  # a token request is a few KiB; refuse to buffer more than this

_BEARER = "Bearer"  # the OAuth token type
_TOKEN_CHARS = string.ascii_letters + string.digits + "._"
_ID_CHARS = string.ascii_letters + string.digits
_VERSION_PATH = re.compile(r"^/services/data/v(\d+)\.(\d)(/.*)?$")


def _random(chars: str, n: int) -> str:
    return "".join(secrets.choice(chars) for _ in range(n))


def _sf_id(prefix: str) -> str:
    """A Salesforce-looking 18-character record id: 3-character key prefix + 15 random characters."""
    return prefix + _random(_ID_CHARS, 15)


@dataclass
class App:
    """A Connected App ("connected") or External Client App ("external") holding ONE certificate.

    Mutable on purpose: replace `certificate_pem` to emulate a key rotation.
    """

    consumer_key: str
    certificate_pem: bytes
    kind: str = "connected"


@dataclass
class User:
    """An org user; flip the flags to provoke the matching token-endpoint errors."""

    username: str
    user_id: str
    active: bool = True
    preauthorized: bool = True
    admin_approved: bool = True
    ip_restricted: bool = False
    api_enabled: bool = True


@dataclass
class _Session:
    user: User
    expires_at: float


@dataclass
class _Fault:
    kind: str
    seconds: float = 0.0


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload).encode())


def _oauth_error(error: str, description: str) -> _Reply:
    return _json(400, {"error": error, "error_description": description})


class _Refused(Exception):
    """Raised inside the token checks; carries Salesforce's error code and exact description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error = error
        self.description = description


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _load_certificate_key(certificate_pem: bytes) -> rsa.RSAPublicKey:
    cert = x509.load_pem_x509_certificate(certificate_pem)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("Salesforce app certificates must hold an RSA key")
    return key


class SalesforceEmulator:
    """Salesforce's token endpoint and a few REST resources, served over real HTTP(S) on localhost.

    Token-endpoint check order (first failure wins), chosen to match what Salesforce can know at each
    step and the troubleshooting order in salesforce-facts.md:

    1. form-encoded body with `grant_type` = jwt-bearer, else `unsupported_grant_type`;
    2. `assertion` parses as a JWT with `alg` RS256, else `invalid_grant: invalid assertion`;
    3. `iss` names a registered app, else `invalid_client_id: client identifier invalid`;
    4. `aud` is accepted for the app's kind, else `app_not_found` (External Client App via
       login/test) or `invalid_grant: audience is invalid`;
    5. the RS256 signature verifies with the app's certificate, else `invalid assertion`;
    6. `exp` is an integer, else `invalid assertion`; not older than `exp_leeway`, else
       `expired authorization code` (no upper bound, as on Salesforce; see `last_exp_ahead`);
    7. `sub` names a user (else `user hasn't approved this consumer`), who is active
       (`inactive user`), pre-authorized (`user hasn't approved this consumer`), admin-approved
       (`invalid_app_access`), and not IP-restricted (`ip restricted`);
    8. fewer than `login_rate_limit` successful logins by this user in the last hour, else
       `login rate exceeded`.

    A user with `api_enabled=False` still gets a token (as on Salesforce) but REST data calls answer
    403 `API_DISABLED_FOR_ORG`.

    Counters for tests: `exchange_count` (token POSTs, any outcome, faults included), `tokens_issued`
    (successes), `rest_calls` (every request under /services/data and to /services/oauth2/userinfo).
    `GET /services/data/` needs no session, as on Salesforce; the versioned resources and userinfo
    do, and each successful call slides the session's expiry by `session_lifetime`.
    """

    def __init__(
        self,
        *,
        sandbox: bool = False,
        my_domain: str = "https://acme.my.salesforce.com",
        session_lifetime: float = 7200.0,
        login_rate_limit: int = 3600,
        clock_skew: float = 0.0,
        exp_leeway: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        site_urls: tuple[str, ...] = (),
    ) -> None:
        self.sandbox = sandbox
        self.my_domain = my_domain.rstrip("/")
        self.session_lifetime = session_lifetime
        self.login_rate_limit = login_rate_limit
        self.clock_skew = clock_skew
        self.exp_leeway = exp_leeway
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self.site_urls = tuple(u.rstrip("/") for u in site_urls)
        self.audience = TEST_URL if sandbox else LOGIN_URL
        self.org_id = _sf_id("00D")
        self.exchange_count = 0
        self.tokens_issued = 0
        self.rest_calls = 0
        self.last_assertion_claims: dict[str, Any] | None = None
        self.last_assertion_header: dict[str, Any] | None = None
        self.last_exp_ahead: float | None = None  # exp minus the emulator's now, for the last assertion
        self.apps: list[App] = []
        self.users: list[User] = []
        self._lock = threading.RLock()
        self._faults: collections.deque[_Fault] = collections.deque()
        self._sessions: dict[bytes, _Session] = {}
        self._logins: dict[str, collections.deque[float]] = {}
        self._rest_block: str | None = None
        self._hmac_key = secrets.token_bytes(32)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve from a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        if self.ssl_context is not None:
            # Handshake lazily in the handler thread so one slow client cannot block accept().
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self.port = server.server_address[1]
        # A short poll interval keeps stop() fast (shutdown waits for the loop to notice).
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="salesforce-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Where the emulator listens, e.g. http://127.0.0.1:54321; also the `instance_url`."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        return self.base_url + "/services/oauth2/token"

    # -- setup ----------------------------------------------------------------------------------

    def now(self) -> float:
        """The emulator's clock: the real clock plus `clock_skew`."""
        return time.time() + self.clock_skew

    def add_app(self, certificate_pem: bytes, *, consumer_key: str | None = None, kind: str = "connected") -> App:
        """Register an app with its one certificate. `kind` is "connected" or "external"."""
        if kind not in ("connected", "external"):
            raise ValueError("kind must be 'connected' or 'external'")
        _load_certificate_key(certificate_pem)  # fail now, not at the first exchange
        app = App(consumer_key or "3MVG9" + _random(_TOKEN_CHARS, 80), certificate_pem, kind)
        with self._lock:
            self.apps.append(app)
        return app

    def add_user(
        self,
        username: str,
        *,
        active: bool = True,
        preauthorized: bool = True,
        admin_approved: bool = True,
        ip_restricted: bool = False,
        api_enabled: bool = True,
    ) -> User:
        """Register a user; the flags map onto the token-endpoint errors (see the class docstring)."""
        user = User(
            username,
            _sf_id("005"),
            active=active,
            preauthorized=preauthorized,
            admin_approved=admin_approved,
            ip_restricted=ip_restricted,
            api_enabled=api_enabled,
        )
        with self._lock:
            self.users.append(user)
        return user

    def inject(self, fault: str, times: int = 1, *, seconds: float = 0.0) -> None:
        """Queue `fault` for the next `times` token-endpoint requests (FIFO). See FAULTS."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        with self._lock:
            self._faults.extend(_Fault(fault, seconds) for _ in range(times))

    def expire_all_tokens(self) -> None:
        """Invalidate every issued token, as a session timeout or a logout would."""
        with self._lock:
            self._sessions.clear()

    def set_rest_block(self, kind: str | None) -> None:
        """Make REST data calls fail with a policy block ("not_rest") or the API limit ("limit")."""
        if kind is not None and kind not in REST_BLOCKS:
            raise ValueError(f"unknown REST block {kind!r}; choose None or one of {REST_BLOCKS}")
        with self._lock:
            self._rest_block = kind

    # -- token endpoint -------------------------------------------------------------------------

    def _token_request(self, content_type: str, body: bytes) -> _Reply:
        with self._lock:
            self.exchange_count += 1
            fault = self._faults.popleft() if self._faults else None
        form: dict[str, str] | None = None
        early: _Refused | None = None
        try:
            form = self._parse_form(content_type, body)
        except _Refused as refused:
            early = refused
        if form is not None:
            self._record_assertion(form.get("assertion", ""))
        if fault is not None:
            reply = self._fault_reply(fault)
            if reply is not None:
                return reply
        if early is not None:
            return _oauth_error(early.error, early.description)
        if form is None:  # pragma: no cover - _parse_form returns a form when there is no early reply
            raise RuntimeError("no form parsed")
        try:
            with self._lock:
                return self._exchange(form.get("assertion", ""))
        except _Refused as refused:
            return _oauth_error(refused.error, refused.description)

    @staticmethod
    def _parse_form(content_type: str, body: bytes) -> dict[str, str]:
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime != "application/x-www-form-urlencoded":
            raise _Refused("unsupported_grant_type", "grant type not supported")
        try:
            pairs = urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            raise _Refused("unsupported_grant_type", "grant type not supported") from None
        form = dict(pairs)
        if form.get("grant_type") != JWT_BEARER_GRANT:
            raise _Refused("unsupported_grant_type", "grant type not supported")
        return form

    def _record_assertion(self, assertion: str) -> None:
        """Keep the unverified header and claims of the last assertion for tests to inspect."""
        try:
            header, claims, _, _ = self._split(assertion)
        except _Refused:
            header, claims = None, None
        with self._lock:
            self.last_assertion_header = header
            self.last_assertion_claims = claims
            exp = claims.get("exp") if claims else None
            self.last_exp_ahead = exp - self.now() if isinstance(exp, int) and not isinstance(exp, bool) else None

    @staticmethod
    def _split(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise _Refused("invalid_grant", "invalid assertion")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            raise _Refused("invalid_grant", "invalid assertion") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _Refused("invalid_grant", "invalid assertion")
        return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature

    def _fault_reply(self, fault: _Fault) -> _Reply | None:
        """The reply for an injected fault, or None when the request should then proceed normally."""
        kind = fault.kind
        if kind == "stall":
            time.sleep(fault.seconds)
            return None
        if kind == "503":
            page = b"<html><head><title>503 Service Unavailable</title></head><body>Maintenance</body></html>"
            return _Reply(503, page, "text/html;charset=UTF-8")
        if kind == "500":
            return _Reply(500, b"", None)
        if kind == "html":
            page = b"<!DOCTYPE html><html><body><h1>Login</h1><form>...</form></body></html>"
            return _Reply(200, page, "text/html;charset=UTF-8")
        if kind == "empty":
            return _Reply(200, b"")
        if kind == "unknown_error":
            return _oauth_error("unknown_error", "retry your request")
        if kind == "redirect":
            location = "https://evil.example.com/services/oauth2/token"
            return _Reply(302, b"", None, {"Location": location})
        if kind == "huge":
            return _Reply(200, b'{"padding": "' + b"x" * (5 * 1024 * 1024) + b'"}')
        if kind == "rate":
            return _oauth_error("invalid_grant", "login rate exceeded")
        raise AssertionError(kind)  # pragma: no cover - inject() validates names

    def _exchange(self, assertion: str) -> _Reply:
        """Run the checks in the documented order; called with the lock held."""
        header, claims, signing_input, signature = self._split(assertion)
        if header.get("alg") != "RS256":
            raise _Refused("invalid_grant", "invalid assertion")
        app = next((a for a in self.apps if a.consumer_key == claims.get("iss")), None)
        if app is None:
            raise _Refused("invalid_client_id", "client identifier invalid")
        self._check_audience(app, claims.get("aud"))
        try:
            _load_certificate_key(app.certificate_pem).verify(
                signature, signing_input, padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError, TypeError):
            raise _Refused("invalid_grant", "invalid assertion") from None
        now = self.now()
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise _Refused("invalid_grant", "invalid assertion")
        if exp < now - self.exp_leeway:
            raise _Refused("invalid_grant", "expired authorization code")
        user = next((u for u in self.users if u.username == claims.get("sub")), None)
        if user is None:
            raise _Refused("invalid_grant", "user hasn't approved this consumer")
        if not user.active:
            raise _Refused("invalid_grant", "inactive user")
        if not user.preauthorized:
            raise _Refused("invalid_grant", "user hasn't approved this consumer")
        if not user.admin_approved:
            raise _Refused("invalid_app_access", "user is not admin approved to access this app")
        if user.ip_restricted:
            raise _Refused("invalid_grant", "ip restricted")
        logins = self._logins.setdefault(user.user_id, collections.deque())
        while logins and logins[0] <= now - 3600:
            logins.popleft()
        if len(logins) >= self.login_rate_limit:
            raise _Refused("invalid_grant", "login rate exceeded")
        logins.append(now)
        return self._issue(user, now)

    def _check_audience(self, app: App, aud: object) -> None:
        values = aud if isinstance(aud, list) else [aud]
        accepted = {self.my_domain} if app.kind == "external" else {self.audience}
        accepted.update(self.site_urls)
        if any(isinstance(v, str) and v in accepted for v in values):
            return
        if app.kind == "external" and any(v in (LOGIN_URL, TEST_URL) for v in values):
            raise _Refused("app_not_found", "External client app is not installed in this org")
        raise _Refused("invalid_grant", "audience is invalid")

    def _issue(self, user: User, now: float) -> _Reply:
        token = f"{self.org_id}!" + _random(_TOKEN_CHARS, 96)
        self._sessions[hashlib.sha256(token.encode()).digest()] = _Session(user, now + self.session_lifetime)
        self.tokens_issued += 1
        identity = f"{self.audience}/id/{self.org_id}/{user.user_id}"
        issued_at = str(int(now * 1000))
        mac = hmac.new(self._hmac_key, (identity + issued_at).encode(), hashlib.sha256).digest()
        return _json(
            200,
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": identity,
                "token_type": "Bearer",  # nosec B105 - the OAuth token type, not a password
                "scope": "api",
                "issued_at": issued_at,
                "signature": base64.b64encode(mac).decode(),
            },
        )

    # -- REST -----------------------------------------------------------------------------------

    def _session_for(self, authorization: str | None) -> _Session | None:
        """The live session behind `Authorization: Bearer <token>`, extending it (sliding expiry)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = hashlib.sha256(authorization[7:].strip().encode()).digest()
        now = self.now()
        session = self._sessions.get(digest)
        if session is None:
            return None
        if session.expires_at <= now:
            del self._sessions[digest]
            return None
        return session

    def _rest_request(self, path: str, authorization: str | None) -> _Reply:
        with self._lock:
            self.rest_calls += 1
            if path in ("/services/data", "/services/data/"):
                # Public on Salesforce too: the version list needs no session.
                return _json(
                    200,
                    [{"label": API_LABEL, "url": f"/services/data/v{API_VERSION}", "version": API_VERSION}],
                )
            if path == "/services/oauth2/userinfo":
                return self._userinfo(authorization)
            match = _VERSION_PATH.match(path)
            if match is None or float(f"{match[1]}.{match[2]}") > float(API_VERSION):
                return _json(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
            session = self._session_for(authorization)
            if session is None:
                return _json(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
            if self._rest_block == "not_rest":
                return _json(
                    401,
                    [
                        {
                            "message": "This session is not valid for use with the REST API",
                            "errorCode": "INVALID_SESSION_ID",
                        }
                    ],
                )
            if self._rest_block == "limit":
                return _json(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
            if not session.user.api_enabled:
                return _json(
                    403,
                    [
                        {
                            "message": "The REST API is not enabled for this Organization.",
                            "errorCode": "API_DISABLED_FOR_ORG",
                        }
                    ],
                )
            rest = (match[3] or "/").rstrip("/")
            version = f"/services/data/v{match[1]}.{match[2]}"
            if rest == "":
                body: Any = {
                    "limits": f"{version}/limits",
                    "sobjects": f"{version}/sobjects",
                    "query": f"{version}/query",
                    "search": f"{version}/search",
                }
            elif rest == "/limits":
                body = {
                    "DailyApiRequests": {"Max": 15000, "Remaining": max(0, 15000 - self.rest_calls)},
                    "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                    "DataStorageMB": {"Max": 5, "Remaining": 5},
                }
            else:
                return _json(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
            session.expires_at = self.now() + self.session_lifetime
            return _json(200, body)

    def _userinfo(self, authorization: str | None) -> _Reply:
        session = self._session_for(authorization)
        if session is None:
            # Salesforce's identity service answers a bad token with a plain-text 403.
            return _Reply(403, b"Bad_OAuth_Token", "text/plain;charset=UTF-8")
        session.expires_at = self.now() + self.session_lifetime
        user = session.user
        return _json(
            200,
            {
                "sub": f"{self.audience}/id/{self.org_id}/{user.user_id}",
                "user_id": user.user_id,
                "organization_id": self.org_id,
                "preferred_username": user.username,
                "active": user.active,
            },
        )


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive clients must not hold up stop()
    emulator: SalesforceEmulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up or times out; tests provoke that on purpose."""
        if isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes requests to the emulator. Never logs: request lines and bodies may carry tokens."""

    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients expect
    server_version = "SalesforceEmulator/1.0"
    sys_version = ""
    timeout = 30
    wbufsize = 64 * 1024  # headers and body leave in one write; handle_one_request flushes

    def setup(self) -> None:
        # Without NODELAY, a header segment then a body segment meets the peer's delayed ACK: +40 ms.
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True
                raise

    def log_message(self, format: str, *args: Any) -> None:
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header, from the emulator's (possibly skewed) clock."""
        return email.utils.formatdate(self.server.emulator.now(), usegmt=True)

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, reply: _Reply) -> None:
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

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        body = self._read_body()
        emulator = self.server.emulator
        if body is None:
            self._send(_oauth_error("invalid_request", "request body too large"))
        elif path == "/services/oauth2/token":
            self._send(emulator._token_request(self.headers.get("Content-Type", ""), body))
        elif path == "/services/oauth2/userinfo":
            self._send(emulator._rest_request(path, self.headers.get("Authorization")))
        else:
            self._send(_json(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]))

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        emulator = self.server.emulator
        if path == "/services/oauth2/token":
            self._send(_oauth_error("invalid_request", "must use HTTP POST"))
        elif path.startswith("/services/data") or path == "/services/oauth2/userinfo":
            self._send(emulator._rest_request(path, self.headers.get("Authorization")))
        else:
            self._send(_json(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]))


# -- keys and certificates --------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_test_keypair(bits: int = 2048, common_name: str = "sfjwt-vault test") -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh RSA key and a self-signed certificate PEM for it: what you upload to a test app."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key, certificate_pem(self_signed_certificate(LocalSigner(key), common_name=common_name, days=365))


def make_tls_context(hostnames: list[str]) -> tuple[ssl.SSLContext, bytes]:
    """A server TLS context with a throwaway self-signed certificate, and that certificate's PEM.

    The certificate names `hostnames` plus "localhost" and 127.0.0.1 (so clients can also connect by
    address). Clients trust it with `ssl.create_default_context(cadata=pem.decode())`.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = list(dict.fromkeys([*hostnames, "localhost", "127.0.0.1"]))
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    subject = _name(hostnames[0] if hostnames else "localhost")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain reads files only; the key file lives for the instant of loading.
    with (
        tempfile.NamedTemporaryFile("wb", suffix=".pem") as cert_file,
        tempfile.NamedTemporaryFile("wb", suffix=".pem") as key_file,
    ):
        cert_file.write(cert_pem)
        cert_file.flush()
        key_file.write(key_pem)
        key_file.flush()
        context.load_cert_chain(cert_file.name, key_file.name)
    return context, cert_pem


# -- CLI --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`sfjwt emulator`: serve an emulator in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="sfjwt emulator", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--sandbox", action="store_true", help="audience https://test.salesforce.com")
    parser.add_argument("--my-domain", default="https://acme.my.salesforce.com")
    parser.add_argument("--session-lifetime", type=float, default=7200.0, metavar="SECONDS")
    parser.add_argument("--consumer-key", help="consumer key of the app registered with --cert")
    parser.add_argument("--username", help="user registered with --cert")
    parser.add_argument("--cert", metavar="FILE", help="PEM certificate: register an app and a user")
    parser.add_argument("--external", action="store_true", help="register an External Client App")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if (args.consumer_key or args.username or args.external) and not args.cert:
        parser.error("--consumer-key, --username and --external need --cert")
    emulator = SalesforceEmulator(
        sandbox=args.sandbox,
        my_domain=args.my_domain,
        session_lifetime=args.session_lifetime,
        host=args.host,
        port=args.port,
    )
    app: App | None = None
    user: User | None = None
    if args.cert:
        try:
            with open(args.cert, "rb") as f:
                certificate = f.read()
            app = emulator.add_app(
                certificate,
                consumer_key=args.consumer_key,
                kind="external" if args.external else "connected",
            )
        except (OSError, ValueError, TypeError) as exc:
            print(f"sfjwt emulator: cannot use certificate {args.cert}: {exc}", file=sys.stderr)
            return 2
        default_user = "integration@acme.com" + (".uat" if args.sandbox else "")
        user = emulator.add_user(args.username or default_user)
    try:
        emulator.start()
    except OSError as exc:
        print(f"sfjwt emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    with emulator:
        print(f"base URL:  {emulator.base_url}")
        print(f"token URL: {emulator.token_url}")
        audience = emulator.my_domain if args.external else emulator.audience
        print(f"audience:  {audience}")
        if app is not None and user is not None:
            print(f"consumer key: {app.consumer_key}")
            print(f"username:     {user.username}")
        print("serving; press Ctrl-C to stop", flush=True)
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            # Containers and process managers stop with SIGTERM; treat it like Ctrl-C.
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = [
    "API_VERSION",
    "FAULTS",
    "App",
    "SalesforceEmulator",
    "User",
    "main",
    "make_test_keypair",
    "make_tls_context",
]
