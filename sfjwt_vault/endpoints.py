"""Audiences, token URLs and instance URLs: which hosts an assertion or a token may go to.

The audience (`aud`) says which authorization server the assertion is for: login for production, test
for sandboxes, a site URL for Experience Cloud, My Domain for External Client Apps. The token URL says
where to POST it. They are often the same host, but not always (My Domain token host, login audience).

By default only Salesforce's own domains (`SALESFORCE_DOMAINS`) and loopback are accepted; a host the
user names in `allowed_hosts` (`SFJWT_ALLOWED_HOSTS`, `--allow-host`) is accepted too. Every host is
normalized first (IDNA to ASCII, lower case, no trailing dot), so `ACME.lightning.force.com.` is checked
as `acme.lightning.force.com`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable

import httpx

from .errors import ConfigurationError, UntrustedResponseError, scrub

PRODUCTION = "https://login.salesforce.com"
SANDBOX = "https://test.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105  # nosec B105 - a URL path, not a password
REVOKE_PATH = "/services/oauth2/revoke"

# The domains Salesforce operates for logins, My Domains and sites (docs/security.md lists the forms):
SALESFORCE_DOMAINS = (
    "salesforce.com",  # login., test., <x>.my. (and .sandbox.my., .develop.my., .scratch.my., ...), instances
    "force.com",  # Experience Cloud and Salesforce Sites without enhanced domains
    "my.site.com",  # Experience Cloud sites with enhanced domains
    "salesforce.mil",  # Government Cloud Plus - Defense My Domains (<x>.my.salesforce.mil)
)
# Salesforce domains that never serve the token endpoint: the Lightning UI.
NOT_LOGIN_DOMAINS = ("lightning.force.com",)
ALLOWED_HOSTS_ENV = "SFJWT_ALLOWED_HOSTS"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_ALLOW_HINT = (
    f"to use another host on purpose (a private endpoint, an egress proxy that terminates TLS, an Experience "
    f"Cloud site on your own domain), list it in {ALLOWED_HOSTS_ENV} or pass --allow-host"
)


def normalize_host(host: str) -> str:
    """`host` as it is compared: IDNA A-labels, lower case, no trailing dot. ValueError if it is not a
    DNS name or an IP address (percent signs, spaces, underscores, empty labels)."""
    text = host.strip().strip("[]").lower()
    if text.endswith("."):
        text = text[:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        text = httpx.URL(f"https://{text}/").raw_host.decode("ascii")  # the IDNA encoding httpx connects to
    except (httpx.InvalidURL, UnicodeError):
        raise ValueError(f"{host!r} is not a host name") from None
    labels = text.split(".")
    if not text or len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{host!r} is not a host name")
    return text


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost (the emulator, a local proxy). `host` must be normalized."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def is_salesforce_host(host: str) -> bool:
    """A normalized host under one of Salesforce's domains, Lightning UI domains excepted."""
    return any(_under(host, d) for d in SALESFORCE_DOMAINS) and not any(_under(host, d) for d in NOT_LOGIN_DOMAINS)


def parse_allowed_hosts(hosts: Iterable[str] | str | None) -> tuple[str, ...]:
    """Host names the user allows besides Salesforce's domains: `host` exactly, or `*.domain` for every
    host under `domain`. A comma-separated string is split."""
    if hosts is None:
        return ()
    items = hosts.split(",") if isinstance(hosts, str) else list(hosts)
    allowed: list[str] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        wildcard = text.startswith("*.")
        try:
            if "/" in text or ":" in text.strip("[]"):
                raise ValueError(text)
            host = normalize_host(text[2:] if wildcard else text)
        except ValueError:
            raise ConfigurationError(
                f"allowed host {text!r} is not a host name",
                hint="give host names only, comma-separated: e.g. sf-proxy.corp.example, *.sites.acme.com "
                "(no scheme, port or path)",
            ) from None
        allowed.append(("*." if wildcard else "") + host)
    return tuple(dict.fromkeys(allowed))


def allowed_by_user(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether a normalized host is on the user's own list (`parse_allowed_hosts` form)."""
    for entry in allowed_hosts:
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif host == entry:
            return True
    return False


def host_kind(url: str, allowed_hosts: Iterable[str] = ()) -> str:
    """What a checked URL's host is: login, test, mydomain, sandbox-mydomain, salesforce (an instance
    or other Salesforce host), site (Experience Cloud), local, allowed (by the user's list) or other."""
    host = httpx.URL(url).host
    if host == "login.salesforce.com":
        return "login"
    if host == "test.salesforce.com":
        return "test"
    if _under(host, "my.salesforce.com") or _under(host, "my.salesforce.mil"):
        first = host.split(".", 1)[0]
        return "sandbox-mydomain" if ".sandbox.my." in host or "--" in first else "mydomain"
    if is_loopback(host):
        return "local"
    if _under(host, "force.com") or _under(host, "my.site.com"):
        return "site"
    if is_salesforce_host(host):
        return "salesforce"
    if allowed_by_user(host, allowed_hosts):
        return "allowed"
    return "other"


def check_url(url: str, what: str, allowed_hosts: Iterable[str] = ()) -> str:
    """The URL in its normalized form, or a ConfigurationError: https to a Salesforce domain or an
    allowed host, or http(s) to loopback; never a Lightning domain, credentials, a query or a fragment."""
    return _check_url(url if isinstance(url, str) else "", what, tuple(allowed_hosts))


# Remembered: a handler that builds Credentials per invocation checks the same two URLs every time, and
# parsing them costs most of the constructor. A refusal raises and is not remembered.
@functools.lru_cache(maxsize=256)
def _check_url(url: str, what: str, allowed_hosts: tuple[str, ...]) -> str:
    example = PRODUCTION if what == "audience" else PRODUCTION + TOKEN_PATH
    text = url.strip()
    try:
        parsed = httpx.URL(text)
        host = normalize_host(parsed.raw_host.decode("ascii"))
    except (httpx.InvalidURL, ValueError, UnicodeError):
        parsed, host = None, ""
    if parsed is None or parsed.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"the {what} {scrub(text)!r} is not an http(s) URL", hint=f"use e.g. {example}")
    if parsed.userinfo or parsed.query or parsed.fragment:
        raise ConfigurationError(
            f"the {what} {scrub(text)!r} carries a user name, a query or a fragment",
            hint=f"give the scheme, host and path only, e.g. {example}",
        )
    loopback = is_loopback(host)
    if parsed.scheme == "http" and not loopback:
        raise ConfigurationError(
            f"the {what} uses plain http to {host}: the assertion and the token would travel unencrypted",
            hint="use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)",
        )
    if any(_under(host, d) for d in NOT_LOGIN_DOMAINS):
        raise ConfigurationError(
            f"the {what} host {host} is a Lightning domain, which is never a login host",
            hint="use https://<domain>.my.salesforce.com (My Domain) or login/test.salesforce.com",
        )
    if not (loopback or is_salesforce_host(host) or allowed_by_user(host, allowed_hosts)):
        raise ConfigurationError(
            f"the {what} host {host} is not a Salesforce login domain",
            hint=f"Salesforce's token endpoints are on {', '.join(SALESFORCE_DOMAINS)}; {_ALLOW_HINT}",
        )
    netloc = f"[{host}]" if ":" in host else host
    if parsed.port is not None:
        netloc += f":{parsed.port}"
    return f"{parsed.scheme}://{netloc}{parsed.raw_path.decode('ascii')}"


def normalize_audience(audience: str, allowed_hosts: Iterable[str] = ()) -> str:
    """The audience as Salesforce compares it: scheme and host (and a site path), no trailing slash."""
    return check_url(audience, "audience", allowed_hosts).rstrip("/")


def default_token_url(audience: str, allowed_hosts: Iterable[str] = ()) -> str:
    """The audience's host + /services/oauth2/token (a site URL keeps its path prefix)."""
    return normalize_audience(audience, allowed_hosts) + TOKEN_PATH


def normalize_token_url(token_url: str, allowed_hosts: Iterable[str] = ()) -> str:
    """Accept a bare host URL and append the token path; keep a full token URL as it is."""
    url = check_url(token_url, "token URL", allowed_hosts).rstrip("/")
    if not url.endswith(TOKEN_PATH):
        url += TOKEN_PATH
    return url


def revoke_url(token_url: str) -> str:
    """Where a session is revoked: the token URL's host (and site path), so a revocation goes where the
    exchange goes, through the same checks (docs/salesforce.md, "Revocation", says why)."""
    return token_url.removesuffix(TOKEN_PATH) + REVOKE_PATH


def check_instance_url(value: object) -> str:
    """A token response's `instance_url` before anything uses it (REST calls, `sfjwt token --format env`):
    https on a Salesforce domain, or loopback (the emulator), and nothing but scheme, host and port."""
    return _check_instance_url(value if isinstance(value, str) else "")


@functools.lru_cache(maxsize=64)  # every exchange of a process names the same instance: parse it once
def _check_instance_url(text: str) -> str:
    try:
        parsed = httpx.URL(text)
        host = normalize_host(parsed.raw_host.decode("ascii"))
        plain = not (parsed.userinfo or parsed.query or parsed.fragment) and parsed.raw_path in (b"", b"/")
    except (httpx.InvalidURL, ValueError, UnicodeError):
        parsed, host, plain = None, "", False
    loopback = bool(host) and is_loopback(host)
    ok = (
        parsed is not None
        and plain
        and (
            (parsed.scheme == "https" and (loopback or is_salesforce_host(host)))
            or (parsed.scheme == "http" and loopback)
        )
    )
    if not ok:
        raise UntrustedResponseError(
            f"the token endpoint answered with instance_url {scrub(text)!r}, which is not https on a "
            "Salesforce domain: the answer was refused and its token not used",
            hint="check that the token URL is Salesforce's (SF_TOKEN_URL); a proxy or server that rewrites "
            "the answer is not trusted",
        )
    return text.rstrip("/")
