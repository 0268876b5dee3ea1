"""The doctor's offline checks: from the settings alone, no network (a key backend may be asked)."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .. import endpoints
from ..certs import same_public_key
from ..errors import ConfigurationError, SfjwtError
from ..events import consumer_key_hint
from ..keyref import KeyRef
from ..keys import MIN_RSA_BITS, open_signer
from ..plugins import PluginHost
from ..settings import BY_NAME, REQUIRED, Settings
from ..signer import LocalSigner
from .findings import FAIL, PASS, SKIP, WARN, Report

CERT_WARN_DAYS = 30
_CONSUMER_KEY = re.compile(r"^3MVG[A-Za-z0-9._]{66,96}$")  # ~85 characters in practice
_USERNAME = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Second-level labels under which a two-letter last label is a country (acme.co.uk, acme.com.au).
_CC_SECOND_LEVEL = {"co", "com", "org", "net", "gov", "edu", "ac"}
_GENERIC_TLDS = {"com", "org", "net", "edu", "gov", "io", "co", "biz", "info", "us", "de", "fr", "uk", "ca"}
# The checklist line a setting's problem belongs on (the rest go on "configuration").
_PROBLEM_LINE = {
    "consumer_key": "consumer_key",
    "username": "username",
    "key": "key",
    "audience": "audience",
    "token_url": "audience",  # nosec B105 - a checklist line's name, not a password
    "allowed_hosts": "audience",
}


@dataclass(frozen=True)
class Options:
    """The doctor's own options, besides the settings `sfjwt token` shares."""

    cert: str | None = None
    external_client_app: bool = False
    offline: bool = False


def check_settings(report: Report, settings: Settings, problems: dict[str, ConfigurationError]) -> None:
    """Every bad setting on its line, then what is missing."""
    for name, problem in problems.items():
        report.add(_PROBLEM_LINE.get(name, "configuration"), FAIL, problem.message, problem.hint)
    missing = [BY_NAME[name].env for name in REQUIRED if name not in problems and not settings.get(name)]
    if missing:
        report.add(
            "configuration",
            FAIL,
            f"missing: {', '.join(missing)}",
            "set them in the environment or pass --consumer-key / --username / --key",
        )
    elif not report.statuses("configuration"):
        report.add(
            "configuration", PASS, "every setting read is valid; SF_CONSUMER_KEY, SF_USERNAME and SFJWT_KEY are set"
        )


def resolve_endpoints(report: Report, settings: Settings, problems: dict[str, ConfigurationError]) -> None:
    """The audience and token URL the exchange would use (settings already checked them)."""
    if problems.keys() & {"audience", "token_url", "allowed_hosts"}:
        return
    allowed = settings.get("allowed_hosts", ())
    audience = settings.get("audience") or (endpoints.SANDBOX if settings.get("sandbox") else endpoints.PRODUCTION)
    report.audience = endpoints.normalize_audience(audience, allowed)
    token_url = settings.get("token_url")
    report.token_url = token_url or endpoints.default_token_url(report.audience, allowed)


def check_consumer_key(report: Report, settings: Settings) -> None:
    key = settings.get("consumer_key") or ""
    if not key:
        return
    shown = consumer_key_hint(key)
    if _CONSUMER_KEY.match(key):
        report.add("consumer_key", PASS, f"looks like a Connected App consumer key ({shown}, {len(key)} chars)")
    else:
        report.add(
            "consumer_key",
            WARN,
            f"does not look like a consumer key ({shown}, {len(key)} chars; expected '3MVG' and about 85 "
            "letters, digits, '.' and '_')",
            "copy the Consumer Key (not the secret, not the app id) from the app's 'Manage Consumer Details'",
        )


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


def _sandbox_org(report: Report) -> bool | None:
    """True/False when the audience or token host says sandbox/production; None when unknown."""
    kinds = {endpoints.host_kind(u) for u in (report.audience, report.token_url) if u}
    if kinds & {"test", "sandbox-mydomain"}:
        return True
    if kinds & {"login", "mydomain"}:
        return False
    return None


def check_username(report: Report, settings: Settings) -> None:
    username = settings.get("username") or ""
    if not username:
        return
    if not _USERNAME.match(username):
        report.add(
            "username",
            FAIL,
            f"{username!r} is not an email-style Salesforce username",
            "use the user's exact Username from Setup > Users (always shaped like an email address)",
        )
        return
    suffix = sandbox_suffix(username)
    sandbox = _sandbox_org(report)
    if sandbox is True and suffix is None:
        report.add(
            "username",
            WARN,
            f"{username!r} has no sandbox suffix, but the audience/token host is a sandbox",
            "sandbox usernames carry the sandbox name after the domain, e.g. user@acme.com.uat",
        )
    elif sandbox is False and suffix is not None:
        report.add(
            "username",
            WARN,
            f"{username!r} looks like a sandbox username (suffix .{suffix}), but the audience is production",
            "for a sandbox use --sandbox (SF_SANDBOX=1, audience https://test.salesforce.com); for production "
            "use the production username without the suffix",
        )
    else:
        report.add("username", PASS, f"{username!r} is email-style" + (f", sandbox .{suffix}" if suffix else ""))


_KIND_SAID = {
    "login": "production",
    "test": "sandbox",
    "site": "Experience Cloud site",
    "salesforce": "a Salesforce instance host",
    "local": "local",
}


def check_audience(report: Report, settings: Settings, options: Options) -> None:
    if report.audience is None or report.token_url is None:
        return
    aud, url = report.audience, report.token_url
    allowed = settings.get("allowed_hosts", ())
    aud_kind, url_kind = endpoints.host_kind(aud, allowed), endpoints.host_kind(url, allowed)
    aud_host, url_host = _host(aud), _host(url)
    where = f"audience {aud}, token URL {url}"
    for host, kind in dict.fromkeys([(aud_host, aud_kind), (url_host, url_kind)]):
        if kind == "allowed":
            source = settings.sources.get("allowed_hosts", endpoints.ALLOWED_HOSTS_ENV)
            report.add("audience", PASS, f"{host} is not a Salesforce domain: allowed by {source}")
    if options.external_client_app:
        if aud_kind in ("login", "test") or url_kind in ("login", "test"):
            report.add(
                "audience",
                FAIL,
                f"{where}: External Client Apps are not reachable through login/test.salesforce.com "
                "(Salesforce answers app_not_found)",
                "set SF_AUDIENCE and SF_TOKEN_URL to the org's My Domain, https://<domain>.my.salesforce.com",
            )
        elif aud_kind != "local" and aud_host != url_host and url_kind != "local":
            report.add("audience", WARN, f"{where}: different hosts", "an External Client App uses My Domain for both")
        else:
            report.add("audience", PASS, f"{where} (External Client App on My Domain)")
        return
    if settings.get("audience") and settings.get("sandbox") and aud_kind == "login":
        report.add(
            "audience",
            WARN,
            "--sandbox / SF_SANDBOX is set, but the explicit audience is production; the audience wins",
            "drop SF_AUDIENCE to use https://test.salesforce.com, or drop SF_SANDBOX",
        )
    if aud_kind in ("mydomain", "sandbox-mydomain"):
        report.add(
            "audience",
            WARN,
            f"{where}: only External Client Apps take My Domain as the audience",
            "for a Connected App set SF_AUDIENCE=https://login.salesforce.com (test for a sandbox) and keep "
            "My Domain as SF_TOKEN_URL; if this is an External Client App, pass --external-client-app",
        )
    elif (aud_kind == "login" and url_kind in ("test", "sandbox-mydomain")) or (
        aud_kind == "test" and url_kind == "login"
    ):
        report.add(
            "audience",
            FAIL,
            f"{where}: the audience and the token host disagree about production vs sandbox",
            "production: audience https://login.salesforce.com; sandbox: https://test.salesforce.com "
            "(--sandbox); the token URL must be the same org kind",
        )
    elif aud_kind == "test" and url_kind == "mydomain":
        report.add(
            "audience",
            WARN,
            f"{where}: a sandbox audience with what looks like a production My Domain",
            "sandbox My Domains look like https://<domain>--<sandbox>.sandbox.my.salesforce.com",
        )
    elif aud_kind in ("site", "allowed") and aud_host != url_host:
        report.add(
            "audience",
            WARN,
            f"{where}: a site-URL audience with a token URL on another host",
            "for an Experience Cloud site, both are usually the site URL",
        )
    else:
        said = _KIND_SAID.get(aud_kind)
        report.add("audience", PASS, where + (f" ({said})" if said else ""))


def _host(url: str) -> str:
    return httpx.URL(url).host


def check_key(report: Report, settings: Settings, host: PluginHost) -> RSAPublicKey | None:
    ref: KeyRef | None = settings.get("key")
    if ref is None:
        if not report.statuses("key"):  # a bad reference already FAILed here
            report.add("key", SKIP, "no key reference (see the configuration line)")
        return None
    try:
        backend = host.owner(ref)
        with open_signer(ref, host, full_check=True) as signer:
            public = signer.public_key()
            remote = not isinstance(signer, LocalSigner)
    except SfjwtError as exc:
        report.add("key", FAIL, f"{ref}: {exc.message}", exc.hint)
        return None
    except RuntimeError as exc:  # a signer that cannot give its public key
        report.add("key", FAIL, f"{ref}: {type(exc).__name__}", "check the key backend")
        return None
    if not isinstance(public, RSAPublicKey):
        report.add("key", FAIL, f"{ref}: not an RSA key", "Salesforce accepts RS256 only: `sfjwt keygen`")
        return None
    if public.key_size < MIN_RSA_BITS:
        report.add(
            "key", FAIL, f"{ref}: RSA {public.key_size} bits", "generate a 2048-bit or larger key: `sfjwt keygen`"
        )
        return None
    how = "signs remotely" if remote else "loads"
    report.add("key", PASS, f"{ref} {how} through the {backend!r} backend: RSA {public.key_size} bits")
    check_key_problems(report, ref, host)
    return public


def check_key_problems(report: Report, ref: KeyRef, host: PluginHost) -> None:
    """Problems that do not stop the key from working, such as a key file others can read (ssh refuses
    such keys): FAIL lines with the owning plugin's fix, from the host's `key_problems` (the
    `sfjwt_key_problems` hook). A plugin host without that call asks nothing."""
    ask = getattr(host, "key_problems", None)
    if ask is None:
        return
    for problem in ask(ref):
        report.add("key", FAIL, problem.message, problem.hint)


def check_certificate(report: Report, options: Options, settings: Settings, public: RSAPublicKey | None) -> None:
    if not options.cert:
        report.add(
            "certificate",
            SKIP,
            "no --cert FILE given: the certificate uploaded to the app is not compared with the key",
        )
        return
    path = options.cert
    try:
        with open(path, "rb") as handle:
            data = handle.read(1024 * 1024)
    except OSError as exc:
        report.add("certificate", FAIL, f"cannot read {path}: {exc.strerror}", "check the --cert path")
        return
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        report.add(
            "certificate",
            FAIL,
            f"{path} is not an X.509 certificate (PEM or DER)",
            "pass the certificate file (-----BEGIN CERTIFICATE-----), not the key",
        )
        return
    if public is not None:
        if same_public_key(public, cert.public_key()):
            report.add("certificate", PASS, f"{path} matches the private key")
        else:
            report.add(
                "certificate",
                FAIL,
                f"{path} was not made from this private key (their public keys differ)",
                f"upload a certificate made from this key (sfjwt cert --key {settings.get('key')} --out FILE) to "
                "the app, or point --cert at the certificate you uploaded",
            )
    expires = cert.not_valid_after_utc
    days = (expires - datetime.datetime.now(datetime.UTC)).days
    date = expires.date().isoformat()
    if days < 0:
        report.add(
            "certificate",
            WARN,
            f"expired on {date}",
            "Salesforce does not enforce certificate expiry, but rotate soon: sfjwt keygen --store ... --force",
        )
    elif days < CERT_WARN_DAYS:
        report.add(
            "certificate",
            WARN,
            f"expires on {date} ({days} days)",
            "Salesforce does not enforce expiry, but plan the rotation (sfjwt keygen)",
        )
    else:
        report.add("certificate", PASS, f"valid until {date} ({days} days)")
