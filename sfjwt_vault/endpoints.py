"""Audiences and token URLs: two separate settings, with the rules that keep them safe.

The audience (`aud`) says which authorization server the assertion is for: login for production, test
for sandboxes, a site URL for Experience Cloud, My Domain for External Client Apps. The token URL says
where to POST it. They are often the same host, but not always (My Domain token host, login audience).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigurationError

PRODUCTION = "https://login.salesforce.com"
SANDBOX = "https://test.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105  # nosec B105 - a URL path, not a password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """Refuse anything but https, except plain http to a loopback host (the emulator, a local proxy)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"the {what} {url!r} is not an http(s) URL",
            hint=f"use e.g. {PRODUCTION if what == 'audience' else PRODUCTION + TOKEN_PATH}",
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"the {what} uses plain http to {parts.hostname}: the assertion and the token would travel unencrypted",
            hint="use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)",
        )
    if parts.hostname.endswith(".lightning.force.com"):
        raise ConfigurationError(
            f"the {what} host {parts.hostname} is a Lightning domain, which is never a login host",
            hint="use https://<domain>.my.salesforce.com (My Domain) or login/test.salesforce.com",
        )
    return url.strip()


def normalize_audience(audience: str) -> str:
    """The audience as Salesforce compares it: scheme and host (and a site path), no trailing slash."""
    check_url(audience, "audience")
    return audience.strip().rstrip("/")


def default_token_url(audience: str) -> str:
    """The audience's host + /services/oauth2/token (a site URL keeps its path prefix)."""
    parts = urlsplit(normalize_audience(audience))
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + TOKEN_PATH, "", ""))


def normalize_token_url(token_url: str) -> str:
    """Accept a bare host URL and append the token path; keep a full token URL as it is."""
    url = check_url(token_url, "token URL").rstrip("/")
    if not urlsplit(url).path.endswith(TOKEN_PATH):
        url += TOKEN_PATH
    return url
