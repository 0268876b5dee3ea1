"""An offline stand-in for Salesforce's OAuth 2.0 token endpoint, identity service and a small REST surface.

It is a real HTTP(S) server on loopback, so clients are exercised end to end (sockets, headers, JSON)
rather than through mocks. docs/salesforce.md says what it follows and docs/emulator.md how it differs.
Faults (5xx, HTML pages, stalls, redirects, huge bodies) can be injected to test retry and safety code.

Nothing here logs or prints tokens or assertions; the access tokens it issues are stored only as
SHA-256 digests.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import ipaddress
import secrets
import ssl
import threading
import time
import urllib.parse
import warnings
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from . import rest
from .assertion_checks import (
    Refused,
    certificate_public_key,
    invalid_assertion,
    read_exp,
    split_assertion,
    verify_rs256,
)
from .certificates import LOOPBACK_NAMES, SALESFORCE_NAMES, ThrowawayCA, make_test_keypair, make_tls_context
from .faults import FAULTS, Fault, fault_reply
from .model import TOKEN_CHARS, App, Sessions, User, random_text, record_id
from .wire import Reply, Request, json_reply, not_found, oauth_error

if TYPE_CHECKING:
    from .server import EmulatorServer

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_URL = "https://login.salesforce.com"
TEST_URL = "https://test.salesforce.com"
API_VERSION = rest.API_VERSION
REST_BLOCKS = ("not_rest", "limit")
# A wildcard bind listens on every interface; the emulator reports it as the loopback of its family.
_WILDCARD_BINDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104  # nosec B104


def _form(request: Request) -> dict[str, str] | None:
    """The body as a URL-encoded form, or None if it is not one."""
    mime = request.header("Content-Type").split(";", 1)[0].strip().lower()
    if mime != "application/x-www-form-urlencoded":
        return None
    try:
        return dict(urllib.parse.parse_qsl(request.body.decode("ascii"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches this machine only (a name counts only if it is "localhost")."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SalesforceEmulator:
    """Salesforce's token endpoint, identity service and a few REST resources, over real HTTP(S).

    Token-endpoint check order (first failure wins), chosen to match what Salesforce can know at each
    step and the setup troubleshooting order:

    1. form-encoded body with `grant_type` = jwt-bearer, else `unsupported_grant_type`;
    2. `assertion` parses as a JWT with `alg` RS256, else `invalid_grant: invalid assertion`;
    3. `iss` names a registered app, else `invalid_client_id: client identifier invalid`;
    4. `aud` is accepted for the app's kind, else `app_not_found` (External Client App via
       login/test) or `invalid_grant: audience is invalid`;
    5. the RS256 signature verifies with the app's certificate, else `invalid assertion`;
    6. `exp` is an integer or a string of digits (seconds; a value in milliseconds reads as a
       far-future time, as on Salesforce), else `invalid assertion`; not older than `exp_leeway`, else
       `expired authorization code` (no upper bound, as on Salesforce; see `last_exp_ahead`);
    7. `sub` names a user (else `user hasn't approved this consumer`), who is active
       (`inactive user`), pre-authorized (`user hasn't approved this consumer`), admin-approved
       (`invalid_app_access`), and not IP-restricted (`ip restricted`);
    8. fewer than `login_rate_limit` successful logins by this user in the last hour, else
       `login rate exceeded`.

    A user with `api_enabled=False` still gets a token (as on Salesforce) but REST data calls answer
    403 `API_DISABLED_FOR_ORG`.

    `tls=True` serves HTTPS with a certificate from a throwaway CA (`ca_pem`) for loopback and the
    Salesforce host names (`SALESFORCE_NAMES`, the My Domain host, `tls_names`); `ssl_context` serves
    one of your own instead. Over TLS the emulator is also an HTTPS proxy for those names: a client
    with `HTTPS_PROXY=<base_url with http>` reaches it as https://login.salesforce.com.

    Counters for tests: `exchange_count` (token POSTs, any outcome, faults included), `tokens_issued`
    (successes), `rest_calls` (every request under /services/data, to userinfo and to the identity
    service), `api_requests` (authenticated REST data calls, as in `Sforce-Limit-Info`),
    `revoke_requests`, `chunked_requests` (bodies sent with `Transfer-Encoding: chunked`).
    `GET /services/data/` needs no session, as on Salesforce; everything else there does, and each
    successful call slides the session's expiry by `session_lifetime`.
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
        tls: bool = False,
        tls_names: tuple[str, ...] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        site_urls: tuple[str, ...] = (),
        org_name: str = "Acme",
    ) -> None:
        if tls and ssl_context is not None:
            raise ValueError("pass either tls=True or ssl_context, not both")
        self.sandbox = sandbox
        self.my_domain = my_domain.rstrip("/")
        self.session_lifetime = session_lifetime
        self.login_rate_limit = login_rate_limit
        self.clock_skew = clock_skew
        self.exp_leeway = exp_leeway
        self.host = host
        self.port = port
        self.site_urls = tuple(u.rstrip("/") for u in site_urls)
        self.audience = TEST_URL if sandbox else LOGIN_URL
        self.org_id = record_id("00D")
        self.org_name = org_name
        self.ca_pem: bytes | None = None
        self.tls_names: tuple[str, ...] = ()
        if tls:
            hosts = [urllib.parse.urlsplit(u).hostname or "" for u in (self.my_domain, *self.site_urls)]
            names = [*LOOPBACK_NAMES, *SALESFORCE_NAMES, *hosts, *tls_names]
            self.tls_names = tuple(dict.fromkeys(n.lower() for n in names if n))
            ca = ThrowawayCA()
            ssl_context = ca.server_context(self.tls_names)
            self.ca_pem = ca.pem
        self.ssl_context = ssl_context
        self.exchange_count = 0
        self.tokens_issued = 0
        self.rest_calls = 0
        self.api_requests = 0
        self.revoke_requests = 0
        self.chunked_requests = 0
        self.last_assertion_claims: dict[str, Any] | None = None
        self.last_assertion_header: dict[str, Any] | None = None
        self.last_exp_ahead: float | None = None  # exp minus the emulator's now, for the last assertion
        self.apps: list[App] = []
        self.users: list[User] = []
        self.sessions = Sessions()
        self.lock = threading.RLock()
        self.rest_block: str | None = None
        self._faults: collections.deque[Fault] = collections.deque()
        self._logins: dict[str, collections.deque[float]] = {}
        self._hmac_key = secrets.token_bytes(32)
        self._server: EmulatorServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve from a daemon thread; returns self for chaining."""
        from .server import EmulatorServer

        if self._server is not None:
            return self
        if not is_loopback(self.host):
            warnings.warn(self.exposure_warning(), stacklevel=2)
        self._server = EmulatorServer(self, self.host, self.port)
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def exposure_warning(self) -> str:
        scheme = "HTTPS with a throwaway certificate" if self.ssl_context else "plain HTTP"
        where = "every network interface" if self.host.strip("[]") in _WILDCARD_BINDS else self.host
        return (
            f"the Salesforce emulator listens on {where}, not only on this machine: anyone who can reach it "
            f"can mint tokens from it and read its traffic ({scheme}); bind 127.0.0.1 or ::1 unless that is meant"
        )

    @property
    def base_url(self) -> str:
        """Where the emulator listens, e.g. http://127.0.0.1:54321; also the `instance_url`.

        A wildcard bind (0.0.0.0, ::) is reported as the matching loopback address, which the TLS
        certificate names.
        """
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        scheme = "https" if self.ssl_context is not None else "http"
        host = self.host.strip("[]")
        host = _WILDCARD_BINDS.get(host, host)
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        return self.base_url + "/services/oauth2/token"

    def identity_url(self, user: User) -> str:
        """The `id` of a token response: this emulator's identity service for `user`."""
        return f"{self.base_url}/id/{self.org_id}/{user.user_id}"

    # -- setup ----------------------------------------------------------------------------------

    def now(self) -> float:
        """The emulator's clock: the real clock plus `clock_skew`."""
        return time.time() + self.clock_skew

    def add_app(self, certificate_pem: bytes, *, consumer_key: str | None = None, kind: str = "connected") -> App:
        """Register an app with its one certificate. `kind` is "connected" or "external"."""
        if kind not in ("connected", "external"):
            raise ValueError("kind must be 'connected' or 'external'")
        certificate_public_key(certificate_pem)  # fail now, not at the first exchange
        app = App(consumer_key or "3MVG9" + random_text(TOKEN_CHARS, 80), certificate_pem, kind)
        with self.lock:
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
            record_id("005"),
            active=active,
            preauthorized=preauthorized,
            admin_approved=admin_approved,
            ip_restricted=ip_restricted,
            api_enabled=api_enabled,
        )
        with self.lock:
            self.users.append(user)
        return user

    def inject(self, fault: str, times: int = 1, *, seconds: float = 0.0) -> None:
        """Queue `fault` for the next `times` token-endpoint requests (FIFO). See FAULTS."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        with self.lock:
            self._faults.extend(Fault(fault, seconds) for _ in range(times))

    def expire_all_tokens(self) -> None:
        """Invalidate every issued token, as a session timeout or a logout would."""
        with self.lock:
            self.sessions.clear()

    def revoke(self, access_token: str) -> bool:
        """End one session from test code, as `POST /services/oauth2/revoke` does; False if not live."""
        with self.lock:
            return self.sessions.revoke(access_token, self.now())

    def live_sessions(self) -> int:
        with self.lock:
            return self.sessions.live_count(self.now())

    def set_rest_block(self, kind: str | None) -> None:
        """Make REST data calls fail with a policy block ("not_rest") or the API limit ("limit")."""
        if kind is not None and kind not in REST_BLOCKS:
            raise ValueError(f"unknown REST block {kind!r}; choose None or one of {REST_BLOCKS}")
        with self.lock:
            self.rest_block = kind

    # -- routing --------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """Answer one request (called by the HTTP server, from its connection threads)."""
        path, method = request.path, request.method
        if path == "/services/oauth2/token":
            if method != "POST":
                return oauth_error("invalid_request", "must use HTTP POST")
            return self._token_request(request)
        if path == "/services/oauth2/revoke" and method == "POST":
            return self._revoke_request(request)
        if path == "/services/oauth2/userinfo" and method in ("GET", "POST", "HEAD"):
            return rest.userinfo(self, request)
        if path.startswith("/id/") and method in ("GET", "POST", "HEAD"):
            return rest.identity(self, request)
        if path == "/services/data" or path.startswith("/services/data/"):
            return rest.data(self, request)
        return not_found()

    # -- token endpoint -------------------------------------------------------------------------

    def _token_request(self, request: Request) -> Reply:
        with self.lock:
            self.exchange_count += 1
            fault = self._faults.popleft() if self._faults else None
        form = _form(request)
        if form is not None:
            self._record_assertion(form.get("assertion", ""))
        if fault is not None:
            reply = fault_reply(fault)
            if reply is not None:
                return reply
        if form is None or form.get("grant_type") != JWT_BEARER_GRANT:
            return oauth_error("unsupported_grant_type", "grant type not supported")
        try:
            with self.lock:
                return self._exchange(form.get("assertion", ""))
        except Refused as refused:
            return oauth_error(refused.error, refused.description)

    def _record_assertion(self, assertion: str) -> None:
        """Keep the unverified header and claims of the last assertion for tests to inspect."""
        try:
            header, claims, _, _ = split_assertion(assertion)
        except Refused:
            header, claims = None, None
        exp = read_exp(claims) if claims else None
        with self.lock:
            self.last_assertion_header = header
            self.last_assertion_claims = claims
            self.last_exp_ahead = exp - self.now() if exp is not None else None

    def _exchange(self, assertion: str) -> Reply:
        """Run the checks in the documented order; called with the lock held."""
        header, claims, signing_input, signature = split_assertion(assertion)
        if header.get("alg") != "RS256":
            raise invalid_assertion()
        app = next((a for a in self.apps if a.consumer_key == claims.get("iss")), None)
        if app is None:
            raise Refused("invalid_client_id", "client identifier invalid")
        self._check_audience(app, claims.get("aud"))
        verify_rs256(app.certificate_pem, signing_input, signature)
        now = self.now()
        exp = read_exp(claims)
        if exp is None:
            raise invalid_assertion()
        if exp < now - self.exp_leeway:
            raise Refused("invalid_grant", "expired authorization code")
        user = next((u for u in self.users if u.username == claims.get("sub")), None)
        if user is None:
            raise Refused("invalid_grant", "user hasn't approved this consumer")
        if not user.active:
            raise Refused("invalid_grant", "inactive user")
        if not user.preauthorized:
            raise Refused("invalid_grant", "user hasn't approved this consumer")
        if not user.admin_approved:
            raise Refused("invalid_app_access", "user is not admin approved to access this app")
        if user.ip_restricted:
            raise Refused("invalid_grant", "ip restricted")
        logins = self._logins.setdefault(user.user_id, collections.deque())
        while logins and logins[0] <= now - 3600:
            logins.popleft()
        if len(logins) >= self.login_rate_limit:
            raise Refused("invalid_grant", "login rate exceeded")
        logins.append(now)
        return self._issue(user, now)

    def _check_audience(self, app: App, aud: object) -> None:
        values = aud if isinstance(aud, list) else [aud]
        accepted = {self.my_domain} if app.kind == "external" else {self.audience}
        accepted.update(self.site_urls)
        if any(isinstance(v, str) and v in accepted for v in values):
            return
        if app.kind == "external" and any(v in (LOGIN_URL, TEST_URL) for v in values):
            raise Refused("app_not_found", "External client app is not installed in this org")
        raise Refused("invalid_grant", "audience is invalid")

    def _issue(self, user: User, now: float) -> Reply:
        token = self.sessions.issue(self.org_id, user, now + self.session_lifetime)
        self.tokens_issued += 1
        identity = self.identity_url(user)
        issued_at = str(int(now * 1000))
        mac = hmac.new(self._hmac_key, (identity + issued_at).encode(), hashlib.sha256).digest()
        return json_reply(
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
            note=f"token issued to {user.username}",
        )

    def _revoke_request(self, request: Request) -> Reply:
        """`POST /services/oauth2/revoke` with `token=`: 200 and the session is gone, else 400."""
        with self.lock:
            self.revoke_requests += 1
        token = (_form(request) or {}).get("token", "")
        if not token:
            return oauth_error("unsupported_token_type", "unsupported token type")
        if not self.revoke(token):
            return oauth_error("invalid_token", "invalid token")
        return Reply(200, b"", None, note="session revoked")


__all__ = [
    "API_VERSION",
    "FAULTS",
    "JWT_BEARER_GRANT",
    "App",
    "SalesforceEmulator",
    "User",
    "is_loopback",
    "make_test_keypair",
    "make_tls_context",
]
