"""The doctor's live checks: the clock against the token endpoint, one real exchange on a private
cache, one REST call with the new token. The exchange is the library's own; the clock and REST calls
use an HTTP client with the exchange's TLS trust and proxy rules (no redirects). The token is never
shown."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx

from ..cache import TokenCache
from ..credentials import Credentials
from ..errors import (
    PRE_AUTHORIZE_FIX,
    PROPAGATION,
    USERNAME_FIX,
    InvalidAssertionError,
    KeyBackendError,
    SalesforceAuthError,
    SfjwtError,
    UserNotApprovedError,
)
from ..exchange import DEFAULT_TIMEOUT, server_time, total_timeout
from ..plugins import PluginHost
from ..retry import RetryPolicy
from ..settings import Settings
from ..token import AccessToken
from .findings import BLOCKING, CHECK_LINE, FAIL, LINES, LIVE, PASS, SKIP, WARN, Report
from .offline import Options

SKEW_WARN, SKEW_FAIL = 30.0, 150.0
DOCTOR_RETRY = RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0, deadline=15.0)


def run_live(report: Report, settings: Settings, options: Options, host: PluginHost) -> None:
    if options.offline:
        for line in LIVE:
            report.add(line, SKIP, "--offline: not checked")
        return
    blocked = [LINES[line] for line in BLOCKING if FAIL in report.statuses(line)]
    if blocked or report.audience is None or report.token_url is None:
        for line in LIVE:
            report.add(line, SKIP, f"no live exchange: fix the FAIL lines first ({'; '.join(blocked)})")
        return
    with _client(settings, report.token_url) as client:
        check_clock(report, client, report.token_url)
        token = exchange(report, settings, options, host)
        if token is not None:
            check_api(report, client, token)
    for line in LIVE:
        if not report.statuses(line):
            report.add(line, SKIP, "not reached")


def _client(settings: Settings, token_url: str) -> httpx.Client:
    """A client trusting what the token exchange trusts (`transport`), through the same proxy rule."""
    from ..transport import proxy_for, transport_for

    url = urlsplit(token_url)
    return httpx.Client(
        verify=transport_for(settings.get("verify", True)).ssl_context(),
        timeout=total_timeout(settings.get("timeout", DEFAULT_TIMEOUT)),
        proxy=proxy_for(url.scheme, url.hostname or ""),
        trust_env=False,
        follow_redirects=False,
    )


def check_clock(report: Report, client: httpx.Client, token_url: str) -> None:
    """Skew against the token endpoint's Date header (a GET: Salesforce answers it without a login)."""
    before = time.time()
    try:
        response = client.get(token_url)
    except httpx.HTTPError as exc:
        report.add("clock", SKIP, f"could not reach {urlsplit(token_url).hostname}: {type(exc).__name__}")
        return
    local = (before + time.time()) / 2
    remote = server_time(response.headers)
    if remote is None:
        report.add("clock", WARN, "the token endpoint sent no Date header: skew not measured")
        return
    skew = local - remote
    said = f"this machine's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the token endpoint's"
    fix = "sync the clock with NTP (chrony, systemd-timesyncd); assertions expire 180 s after they are made"
    if abs(skew) > SKEW_FAIL:
        report.add("clock", FAIL, said, fix)
    elif abs(skew) > SKEW_WARN:
        report.add("clock", WARN, said, fix)
    else:
        report.add("clock", PASS, f"within {SKEW_WARN:.0f} s of the token endpoint's Date header")


def exchange(report: Report, settings: Settings, options: Options, host: PluginHost) -> AccessToken | None:
    """One real exchange on a private cache; a refusal is put on the line that explains it."""
    try:
        creds = Credentials(
            settings.get("consumer_key"),
            settings.get("username"),
            settings.get("key"),
            audience=report.audience,
            token_url=report.token_url,
            allowed_hosts=settings.get("allowed_hosts"),
            cache=TokenCache(),  # private: the doctor must really exchange
            retry=DOCTOR_RETRY,
            plugin_host=host,
        )
        token = creds.get_token()
    except SalesforceAuthError as exc:
        _refused(report, options, exc)
        return None
    except KeyBackendError as exc:
        report.add("key", FAIL, exc.message, exc.hint)
        report.add("exchange", FAIL, f"no assertion could be signed: see {LINES['key']!r}")
        return None
    except SfjwtError as exc:
        report.add("exchange", FAIL, exc.message, exc.hint)
        return None
    report.instance_url, report.org_id = token.instance_url, token.org_id
    for line in ("certificate", "user_authorized"):
        report.drop(line, SKIP)
    report.add("certificate", PASS, "Salesforce verified the assertion's signature with the app's certificate")
    report.add("user_authorized", PASS, "the user is allowed to use the app (a token was issued)")
    report.add("exchange", PASS, f"token issued: instance URL {token.instance_url}, org id {token.org_id}")
    return token


def _refused(report: Report, options: Options, exc: SalesforceAuthError) -> None:
    """Salesforce's answer on its checklist line, each fix said once."""
    line = CHECK_LINE.get(exc.check, "exchange") if exc.check else "exchange"
    said = f"Salesforce answered {exc.error}: {exc.description}"
    fix = exc.hint or ""
    cert_matches = any(
        f.line == "certificate" and f.status == PASS and "matches the private key" in f.detail for f in report.findings
    )
    if isinstance(exc, InvalidAssertionError) and cert_matches:
        fix = (
            f"{options.cert} matches this private key, so the app holds another certificate (or this is another "
            f"app's consumer key): upload {options.cert} to the app. {PROPAGATION}"
        )
    if isinstance(exc, UserNotApprovedError):
        # One answer for two causes: the username on line 2, the pre-authorization on line 5.
        report.add("username", FAIL, said, f"Check 2: {USERNAME_FIX}.")
        report.add("user_authorized", FAIL, said, f"Check 5: {PRE_AUTHORIZE_FIX}. {PROPAGATION}")
    else:
        report.add(line, FAIL, said, fix)
    if line != "exchange":
        report.add("exchange", FAIL, f"refused: see {LINES[line]!r}")


def check_api(report: Report, client: httpx.Client, token: AccessToken) -> None:
    """One REST call with the new token: does this user have API access? The token is not shown."""
    instance_url = token.instance_url
    try:
        versions = client.get(f"{instance_url}/services/data/")
        listed = versions.json() if versions.status_code == 200 else []
        latest = max((str(v["version"]) for v in listed if isinstance(v, dict) and "version" in v), key=float)
        response = client.get(
            f"{instance_url}/services/data/v{latest}/", headers={"Authorization": token.authorization_header()}
        )
    except (httpx.HTTPError, ValueError, TypeError, KeyError):
        report.add("api_permission", WARN, "could not list the REST API versions on the instance: not checked")
        return
    if response.status_code == 200:
        report.add("api_permission", PASS, f"the REST API answers this user (v{latest})")
        return
    code = ""
    try:
        body = response.json()
        code = str(body[0].get("errorCode", "")) if isinstance(body, list) and body else ""
    except (ValueError, AttributeError):
        pass
    if code == "API_DISABLED_FOR_ORG" or response.status_code == 403:
        report.add(
            "api_permission",
            FAIL,
            f"REST call refused: HTTP {response.status_code} {code}".rstrip(),
            "Check 6: give the user 'API Enabled' (profile or permission set); the org edition must have API access",
        )
    else:
        report.add(
            "api_permission",
            WARN,
            f"REST call answered HTTP {response.status_code} {code}".rstrip(),
            "a session policy may block REST for this app (e.g. high-assurance sessions, IP rules)",
        )
