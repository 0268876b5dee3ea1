"""`sfjwt doctor`: the setup checklist, line by line, each with its fix.

Most JWT Bearer failures are setup failures, and Salesforce answers them with short, ambiguous strings.
The doctor walks the troubleshooting order (consumer key, username, audience, certificate, user access,
API permission, clock), first offline from the configuration alone, then with one real exchange on a
private token cache, and maps Salesforce's answer onto the line that explains it. It never prints the
access token, the assertion or the key; the consumer key is shown only by its first characters.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from . import endpoints
from .certs import same_public_key
from .errors import (
    Check,
    ConfigurationError,
    InvalidAssertionError,
    InvalidClientIdError,
    KeyBackendError,
    SalesforceAuthError,
    SfjwtError,
    UserNotApprovedError,
)
from .events import consumer_key_hint
from .exchange import HEADERS, server_time
from .keyref import KeyRef
from .keys import MIN_RSA_BITS, open_signer
from .plugins import PluginHost, get_host
from .signer import LocalSigner

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
EXIT_OK, EXIT_FAILED = 0, 1
SKEW_WARN, SKEW_FAIL = 30.0, 150.0
CERT_WARN_DAYS = 30

# The checklist lines, in the order they are checked and printed.
LINES: dict[str, str] = {
    "configuration": "configuration",
    "consumer_key": Check.CONSUMER_KEY.value,
    "username": Check.USERNAME.value,
    "audience": Check.AUDIENCE.value,
    "key": "private key loads from its store",
    "certificate": Check.CERTIFICATE.value,
    "clock": "clock",
    "user_authorized": Check.USER_AUTHORIZED.value,
    "api_permission": Check.API_PERMISSION.value,
    "exchange": "live exchange",
}
CHECK_LINE: dict[Check, str] = {
    Check.CONSUMER_KEY: "consumer_key",
    Check.USERNAME: "username",
    Check.AUDIENCE: "audience",
    Check.CERTIFICATE: "certificate",
    Check.USER_AUTHORIZED: "user_authorized",
    Check.API_PERMISSION: "api_permission",
    Check.CLOCK: "clock",
    Check.NETWORK: "exchange",
}
_BLOCKING = ("configuration", "consumer_key", "audience", "key")  # a FAIL here means no live exchange

_CONSUMER_KEY = re.compile(r"^3MVG[A-Za-z0-9._]{66,96}$")  # ~85 characters in practice
_USERNAME = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Second-level labels under which a two-letter last label is a country (acme.co.uk, acme.com.au).
_CC_SECOND_LEVEL = {"co", "com", "org", "net", "gov", "edu", "ac"}
_GENERIC_TLDS = {"com", "org", "net", "edu", "gov", "io", "co", "biz", "info", "us", "de", "fr", "uk", "ca"}
_PRE_AUTHORIZE_FIX = (
    "Check 5: in the app, Manage > Edit Policies: Permitted Users = 'Admin approved users are "
    "pre-authorized'; then Manage Profiles / Manage Permission Sets: add the user's profile or a permission "
    "set assigned to the user. Changes take 2 to 10 minutes."
)


@dataclass
class Finding:
    """One result on one checklist line. `detail` and `fix` never hold a secret."""

    line: str
    status: str
    detail: str
    fix: str | None = None

    @property
    def title(self) -> str:
        return LINES[self.line]


@dataclass
class Settings:
    """The raw configuration, read like `sfjwt token` reads it but without stopping at the first gap."""

    consumer_key: str = ""
    username: str = ""
    key: str = ""
    audience: str | None = None
    token_url: str | None = None
    sandbox: bool = False
    verify: bool | str = True
    timeout: float | None = None
    external_client_app: bool = False
    cert: str | None = None
    offline: bool = False
    problems: list[str] = field(default_factory=list)


_TRUE = {"1", "true", "yes", "on"}


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Environment first, flags win: the same variables and flags as `sfjwt token`."""
    env = os.environ if environ is None else environ
    s = Settings(
        consumer_key=env.get("SF_CONSUMER_KEY", ""),
        username=env.get("SF_USERNAME", ""),
        key=env.get("SFJWT_KEY", ""),
        audience=env.get("SF_AUDIENCE") or None,
        token_url=env.get("SF_TOKEN_URL") or None,
        sandbox=env.get("SF_SANDBOX", "").strip().lower() in _TRUE,
        verify=env.get("SFJWT_CA_BUNDLE") or True,
    )
    if env.get("SFJWT_TIMEOUT"):
        try:
            s.timeout = float(env["SFJWT_TIMEOUT"])
        except ValueError:
            s.problems.append("SFJWT_TIMEOUT is not a number of seconds")
    for flag in ("consumer_key", "username", "key", "audience", "token_url", "sandbox", "timeout"):
        value = getattr(args, flag, None)
        if value is not None:
            setattr(s, flag, value)
    if getattr(args, "ca_bundle", None):
        s.verify = args.ca_bundle
    s.external_client_app = bool(getattr(args, "external_client_app", False))
    s.cert = getattr(args, "cert", None)
    s.offline = bool(getattr(args, "offline", False))
    return s


def _host_kind(url: str) -> str:
    """login, test, mydomain, sandbox-mydomain, local or other (a site URL or another host)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "login.salesforce.com":
        return "login"
    if host == "test.salesforce.com":
        return "test"
    if host.endswith((".my.salesforce.com", ".my.salesforce.mil")):
        first = host.split(".", 1)[0]
        return "sandbox-mydomain" if ".sandbox.my." in host or "--" in first else "mydomain"
    if endpoints.is_loopback(host):
        return "local"
    return "other"


def sandbox_suffix(username: str) -> str | None:
    """The label after the domain's TLD (`user@acme.com.uat` -> "uat"), if the username seems to have one.

    A heuristic: a plain domain ends in its TLD; a sandbox copy appends the sandbox name. Two-letter last
    labels under co/com/org... are countries (acme.co.uk), not sandboxes.
    """
    domain = username.rpartition("@")[2].lower()
    labels = domain.split(".")
    if len(labels) < 3:
        return None
    last, before = labels[-1], labels[-2]
    if before not in _GENERIC_TLDS:
        return None
    if len(last) == 2 and before in _CC_SECOND_LEVEL:
        return None
    return last


class Doctor:
    """Runs the checks for one configuration and collects the findings."""

    def __init__(self, settings: Settings, host: PluginHost | None = None) -> None:
        self.s = settings
        self.host = host or get_host()
        self.findings: list[Finding] = []
        self.audience: str | None = None
        self.token_url: str | None = None
        self.instance_url: str | None = None
        self.org_id: str | None = None

    def add(self, line: str, status: str, detail: str, fix: str | None = None) -> None:
        self.findings.append(Finding(line, status, detail, fix))

    def statuses(self, line: str) -> set[str]:
        return {f.status for f in self.findings if f.line == line}

    def run(self) -> list[Finding]:
        self.check_configuration()
        self.resolve_endpoints()
        self.check_consumer_key()
        self.check_username()
        self.check_audience()
        public = self.check_key()
        self.check_certificate(public)
        self.live()
        order = list(LINES)
        self.findings.sort(key=lambda f: order.index(f.line))
        return self.findings

    # -- offline --------------------------------------------------------------------------------

    def check_configuration(self) -> None:
        missing = [
            var
            for var, value in (
                ("SF_CONSUMER_KEY", self.s.consumer_key),
                ("SF_USERNAME", self.s.username),
                ("SFJWT_KEY", self.s.key),
            )
            if not value.strip()
        ]
        for problem in self.s.problems:
            self.add("configuration", FAIL, problem, "fix the variable or pass the matching flag")
        if missing:
            self.add(
                "configuration",
                FAIL,
                f"missing: {', '.join(missing)}",
                "set them in the environment or pass --consumer-key / --username / --key",
            )
        elif not self.s.problems:
            self.add("configuration", PASS, "SF_CONSUMER_KEY, SF_USERNAME and SFJWT_KEY are set")

    def resolve_endpoints(self) -> None:
        audience = self.s.audience or (endpoints.SANDBOX if self.s.sandbox else endpoints.PRODUCTION)
        try:
            self.audience = endpoints.normalize_audience(audience)
        except ConfigurationError as exc:
            self.add("audience", FAIL, exc.message, exc.hint)
            return
        try:
            self.token_url = (
                endpoints.normalize_token_url(self.s.token_url)
                if self.s.token_url
                else endpoints.default_token_url(self.audience)
            )
        except ConfigurationError as exc:
            self.add("audience", FAIL, exc.message, exc.hint)

    def check_consumer_key(self) -> None:
        key = self.s.consumer_key.strip()
        if not key:
            return
        shown = consumer_key_hint(key)
        if any(c.isspace() for c in self.s.consumer_key.strip()):
            self.add("consumer_key", FAIL, "the consumer key contains whitespace", "copy it again without spaces")
        elif _CONSUMER_KEY.match(key):
            self.add("consumer_key", PASS, f"looks like a Connected App consumer key ({shown}, {len(key)} chars)")
        else:
            self.add(
                "consumer_key",
                WARN,
                f"does not look like a consumer key ({shown}, {len(key)} chars; expected '3MVG' and about 85 "
                "letters, digits, '.' and '_')",
                "copy the Consumer Key (not the secret, not the app id) from the app's 'Manage Consumer Details'",
            )

    def _sandbox_org(self) -> bool | None:
        """True/False when the audience or token host says sandbox/production; None when unknown."""
        kinds = {_host_kind(u) for u in (self.audience, self.token_url) if u}
        if kinds & {"test", "sandbox-mydomain"}:
            return True
        if kinds & {"login", "mydomain"}:
            return False
        return None

    def check_username(self) -> None:
        username = self.s.username.strip()
        if not username:
            return
        if not _USERNAME.match(username):
            self.add(
                "username",
                FAIL,
                f"{username!r} is not an email-style Salesforce username",
                "use the user's exact Username from Setup > Users (always shaped like an email address)",
            )
            return
        suffix = sandbox_suffix(username)
        sandbox = self._sandbox_org()
        if sandbox is True and suffix is None:
            self.add(
                "username",
                WARN,
                f"{username!r} has no sandbox suffix, but the audience/token host is a sandbox",
                "sandbox usernames carry the sandbox name after the domain, e.g. user@acme.com.uat",
            )
        elif sandbox is False and suffix is not None:
            self.add(
                "username",
                WARN,
                f"{username!r} looks like a sandbox username (suffix .{suffix}), but the audience is production",
                "for a sandbox use --sandbox (SF_SANDBOX=1, audience https://test.salesforce.com); for production "
                "use the production username without the suffix",
            )
        else:
            self.add("username", PASS, f"{username!r} is email-style" + (f", sandbox .{suffix}" if suffix else ""))

    def check_audience(self) -> None:
        if self.audience is None or self.token_url is None:
            return
        aud, url = self.audience, self.token_url
        aud_kind, url_kind = _host_kind(aud), _host_kind(url)
        url_host = urlsplit(url).hostname
        where = f"audience {aud}, token URL {url}"
        if self.s.external_client_app:
            if aud_kind in ("login", "test") or url_kind in ("login", "test"):
                self.add(
                    "audience",
                    FAIL,
                    f"{where}: External Client Apps are not reachable through login/test.salesforce.com "
                    "(Salesforce answers app_not_found)",
                    "set SF_AUDIENCE and SF_TOKEN_URL to the org's My Domain, https://<domain>.my.salesforce.com",
                )
            elif aud_kind != "local" and urlsplit(aud).hostname != url_host and url_kind != "local":
                fix = "an External Client App uses My Domain for both"
                self.add("audience", WARN, f"{where}: different hosts", fix)
            else:
                self.add("audience", PASS, f"{where} (External Client App on My Domain)")
            return
        if self.s.audience and self.s.sandbox and aud_kind == "login":
            self.add(
                "audience",
                WARN,
                "--sandbox / SF_SANDBOX is set, but the explicit audience is production; the audience wins",
                "drop SF_AUDIENCE to use https://test.salesforce.com, or drop SF_SANDBOX",
            )
        if aud_kind in ("mydomain", "sandbox-mydomain"):
            self.add(
                "audience",
                WARN,
                f"{where}: only External Client Apps take My Domain as the audience",
                "for a Connected App set SF_AUDIENCE=https://login.salesforce.com (test for a sandbox) and keep "
                "My Domain as SF_TOKEN_URL; if this is an External Client App, pass --external-client-app",
            )
        elif (aud_kind == "login" and url_kind in ("test", "sandbox-mydomain")) or (
            aud_kind == "test" and url_kind == "login"
        ):
            self.add(
                "audience",
                FAIL,
                f"{where}: the audience and the token host disagree about production vs sandbox",
                "production: audience https://login.salesforce.com; sandbox: https://test.salesforce.com "
                "(--sandbox); the token URL must be the same org kind",
            )
        elif aud_kind == "test" and url_kind == "mydomain":
            self.add(
                "audience",
                WARN,
                f"{where}: a sandbox audience with what looks like a production My Domain",
                "sandbox My Domains look like https://<domain>--<sandbox>.sandbox.my.salesforce.com",
            )
        elif aud_kind == "other" and urlsplit(aud).hostname != url_host:
            self.add(
                "audience",
                WARN,
                f"{where}: a site-URL audience with a token URL on another host",
                "for an Experience Cloud site, both are usually the site URL",
            )
        else:
            kind = {"login": "production", "test": "sandbox", "other": "site URL", "local": "local"}.get(aud_kind)
            self.add("audience", PASS, f"{where} ({kind})")

    def check_key(self) -> RSAPublicKey | None:
        if not self.s.key.strip():
            self.add("key", SKIP, "no key reference (see configuration)")
            return None
        try:
            ref = KeyRef.parse(self.s.key)
            backend = self.host.owner(ref)
            with open_signer(ref, self.host, full_check=True) as signer:
                public = signer.public_key()
                remote = not isinstance(signer, LocalSigner)
        except SfjwtError as exc:
            self.add("key", FAIL, f"{self.s.key}: {exc.message}", exc.hint)
            return None
        except RuntimeError as exc:  # a signer that cannot give its public key
            self.add("key", FAIL, f"{self.s.key}: {type(exc).__name__}", "check the key backend")
            return None
        if not isinstance(public, RSAPublicKey):
            self.add("key", FAIL, f"{ref}: not an RSA key", "Salesforce accepts RS256 only: `sfjwt keygen`")
            return None
        if public.key_size < MIN_RSA_BITS:
            self.add(
                "key", FAIL, f"{ref}: RSA {public.key_size} bits", "generate a 2048-bit or larger key: `sfjwt keygen`"
            )
            return None
        how = "signs remotely" if remote else "loads"
        self.add("key", PASS, f"{ref} {how} through the {backend!r} backend: RSA {public.key_size} bits")
        return public

    def check_certificate(self, public: RSAPublicKey | None) -> None:
        if not self.s.cert:
            self.add(
                "certificate",
                SKIP,
                "not compared offline (pass --cert FILE, the certificate uploaded to the app)",
            )
            return
        try:
            with open(self.s.cert, "rb") as handle:
                data = handle.read(1024 * 1024)
        except OSError as exc:
            self.add("certificate", FAIL, f"cannot read {self.s.cert}: {exc.strerror}", "check the --cert path")
            return
        try:
            cert = (
                x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
            )
        except ValueError:
            self.add(
                "certificate",
                FAIL,
                f"{self.s.cert} is not an X.509 certificate (PEM or DER)",
                "pass the certificate file (-----BEGIN CERTIFICATE-----), not the key",
            )
            return
        if public is not None:
            if same_public_key(public, cert.public_key()):
                self.add("certificate", PASS, f"{self.s.cert} matches the private key")
            else:
                self.add(
                    "certificate",
                    FAIL,
                    f"{self.s.cert} was not made from this private key (their public keys differ)",
                    f"upload a certificate made from this key (sfjwt cert --key {self.s.key} --out FILE) to the "
                    "app, or point --cert at the certificate you uploaded",
                )
        expires = cert.not_valid_after_utc
        days = (expires - datetime.datetime.now(datetime.UTC)).days
        date = expires.date().isoformat()
        if days < 0:
            self.add(
                "certificate",
                WARN,
                f"expired on {date}",
                "Salesforce does not enforce certificate expiry, but rotate soon: sfjwt keygen --store ... --force",
            )
        elif days < CERT_WARN_DAYS:
            self.add(
                "certificate",
                WARN,
                f"expires on {date} ({days} days)",
                "Salesforce does not enforce expiry, but plan the rotation (sfjwt keygen)",
            )
        else:
            self.add("certificate", PASS, f"valid until {date} ({days} days)")

    # -- live -----------------------------------------------------------------------------------

    def live(self) -> None:
        live_lines = ("clock", "user_authorized", "api_permission", "exchange")
        if self.s.offline:
            for line in live_lines:
                self.add(line, SKIP, "--offline: not checked")
            return
        blocked = [LINES[line] for line in _BLOCKING if FAIL in self.statuses(line)]
        if blocked or self.audience is None or self.token_url is None:
            for line in live_lines:
                self.add(line, SKIP, f"no live exchange: fix the FAIL lines first ({'; '.join(blocked)})")
            return
        timeout = self.s.timeout if self.s.timeout is not None else 10.0
        with httpx.Client(
            verify=_verify(self.s.verify), timeout=timeout, follow_redirects=False, headers=HEADERS
        ) as client:
            self.check_clock(client)
            token = self.exchange()
            if token is not None:
                self.check_api(client, token.instance_url, token.authorization_header())
        for line in live_lines:
            if not self.statuses(line):
                self.add(line, SKIP, "not reached")

    def check_clock(self, client: httpx.Client) -> None:
        """Skew against the token endpoint's Date header (a GET: Salesforce answers it without a login)."""
        if self.token_url is None:  # pragma: no cover - live() runs only with a token URL
            return
        before = time.time()
        try:
            response = client.get(self.token_url)
        except httpx.HTTPError as exc:
            self.add("clock", SKIP, f"could not reach {urlsplit(self.token_url).hostname}: {type(exc).__name__}")
            return
        local = (before + time.time()) / 2
        remote = server_time(response.headers)
        if remote is None:
            self.add("clock", WARN, "the token endpoint sent no Date header: skew not measured")
            return
        skew = local - remote
        said = f"this machine's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the token endpoint's"
        fix = "sync the clock with NTP (chrony, systemd-timesyncd); assertions expire 180 s after they are made"
        if abs(skew) > SKEW_FAIL:
            self.add("clock", FAIL, said, fix)
        elif abs(skew) > SKEW_WARN:
            self.add("clock", WARN, said, fix)
        else:
            self.add("clock", PASS, f"within {SKEW_WARN:.0f} s of the token endpoint's Date header")

    def exchange(self) -> Any:
        from .cache import TokenCache
        from .credentials import Credentials
        from .retry import RetryPolicy

        kwargs: dict[str, Any] = {}
        if self.s.timeout is not None:
            kwargs["timeout"] = self.s.timeout
        try:
            creds = Credentials(
                self.s.consumer_key,
                self.s.username,
                self.s.key,
                audience=self.audience,
                token_url=self.token_url,
                verify=self.s.verify,
                cache=TokenCache(),  # private: the doctor must really exchange
                retry=RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1.0, deadline=15.0),
                plugin_host=self.host,
                **kwargs,
            )
            with creds:
                token = creds.get_token()
        except SalesforceAuthError as exc:
            line = CHECK_LINE.get(exc.check, "exchange") if exc.check else "exchange"
            said = f"Salesforce answered {exc.error}: {exc.description}"
            fix = exc.hint or ""
            if isinstance(exc, InvalidAssertionError) and any(
                f.line == "certificate" and f.status == PASS and "matches the private key" in f.detail
                for f in self.findings
            ):
                fix = (
                    f"{self.s.cert} matches this private key, so the app holds another certificate (or this is "
                    f"another app's consumer key): upload {self.s.cert} to the app. " + fix
                )
            if isinstance(exc, InvalidAssertionError | InvalidClientIdError):
                fix += " Just changed the app or its certificate? Salesforce takes 2 to 10 minutes to use it."
            self.add(line, FAIL, said, fix)
            if isinstance(exc, UserNotApprovedError):
                self.add("user_authorized", FAIL, said + " (or the username is wrong: see line 2)", _PRE_AUTHORIZE_FIX)
            if line != "exchange":
                self.add("exchange", FAIL, f"refused: see line {LINES[line]!r}")
            return None
        except KeyBackendError as exc:
            self.add("key", FAIL, exc.message, exc.hint)
            self.add("exchange", FAIL, "no assertion could be signed: see the key line")
            return None
        except SfjwtError as exc:
            self.add("exchange", FAIL, exc.message, exc.hint)
            return None
        self.instance_url, self.org_id = token.instance_url, token.org_id
        for line in ("certificate", "user_authorized"):
            self.findings = [f for f in self.findings if not (f.line == line and f.status == SKIP)]
        self.add("certificate", PASS, "Salesforce verified the assertion's signature with the app's certificate")
        self.add("user_authorized", PASS, "the user is allowed to use the app (a token was issued)")
        self.add("exchange", PASS, f"token issued: instance URL {token.instance_url}, org id {token.org_id}")
        return token

    def check_api(self, client: httpx.Client, instance_url: str, authorization: str) -> None:
        """One REST call with the new token: does this user have API access? The token is not shown."""
        try:
            versions = client.get(f"{instance_url}/services/data/")
            listed = versions.json() if versions.status_code == 200 else []
            latest = max((str(v["version"]) for v in listed if isinstance(v, dict) and "version" in v), key=float)
            response = client.get(f"{instance_url}/services/data/v{latest}/", headers={"Authorization": authorization})
        except (httpx.HTTPError, ValueError, TypeError, KeyError):
            self.add("api_permission", WARN, "could not list the REST API versions on the instance: not checked")
            return
        if response.status_code == 200:
            self.add("api_permission", PASS, f"the REST API answers this user (v{latest})")
            return
        code = ""
        try:
            body = response.json()
            code = str(body[0].get("errorCode", "")) if isinstance(body, list) and body else ""
        except (ValueError, AttributeError):
            pass
        if code == "API_DISABLED_FOR_ORG" or response.status_code == 403:
            self.add(
                "api_permission",
                FAIL,
                f"REST call refused: HTTP {response.status_code} {code}".rstrip(),
                "Check 6: give the user 'API Enabled' (profile or permission set); the org edition must have API "
                "access",
            )
        else:
            self.add(
                "api_permission",
                WARN,
                f"REST call answered HTTP {response.status_code} {code}".rstrip(),
                "a session policy may block REST for this app (e.g. high-assurance sessions, IP rules)",
            )


def _verify(verify: bool | str) -> Any:
    if isinstance(verify, str):
        import ssl

        return ssl.create_default_context(cafile=verify)
    return verify


def exit_code(findings: list[Finding]) -> int:
    return EXIT_FAILED if any(f.status == FAIL for f in findings) else EXIT_OK


def render_text(doctor: Doctor, findings: list[Finding], out: TextIO) -> None:
    who = doctor.s.username or "?"
    out.write(f"sfjwt doctor: JWT Bearer setup for {who} via {doctor.token_url or '?'}\n\n")
    for f in findings:
        out.write(f"{f.status}  {f.title}: {f.detail}\n")
        if f.fix and f.status in (WARN, FAIL):
            out.write(f"      fix: {f.fix}\n")
    counts = {s: sum(1 for f in findings if f.status == s) for s in (FAIL, WARN, PASS, SKIP)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    verdict = "setup looks right" if not counts[FAIL] else "fix the FAIL lines, in order, then run sfjwt doctor again"
    out.write(f"\n{summary}: {verdict}\n")


def render_json(doctor: Doctor, findings: list[Finding], out: TextIO) -> None:
    payload = {
        "ok": exit_code(findings) == EXIT_OK,
        "exit_code": exit_code(findings),
        "audience": doctor.audience,
        "token_url": doctor.token_url,
        "instance_url": doctor.instance_url,
        "org_id": doctor.org_id,
        "findings": [dict(asdict(f), title=f.title) for f in findings],
    }
    out.write(json.dumps(payload, indent=2) + "\n")


def run(args: argparse.Namespace, *, host: PluginHost | None = None, out: TextIO | None = None) -> int:
    """The `sfjwt doctor` command: 0 when nothing FAILed (WARN is fine), 1 otherwise."""
    doctor = Doctor(settings_from(args), host)
    findings = doctor.run()
    stream = out or sys.stdout
    if getattr(args, "format", "text") == "json":
        render_json(doctor, findings, stream)
    else:
        render_text(doctor, findings, stream)
    return exit_code(findings)
