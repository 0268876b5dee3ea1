"""Every error sfjwt-vault raises, and the one table that maps Salesforce's token errors onto them.

Each error carries an exit code for the CLI, and most carry a hint that names the setup check to do
next (the troubleshooting order in the README). No error message ever contains a key, an assertion or
an access token: the texts here are written by us or are Salesforce's short fixed strings.
"""

from __future__ import annotations

import enum
import re
from typing import Any, NamedTuple


class Check(enum.Enum):
    """The troubleshooting order that solves most JWT Bearer failures, as numbered checklist lines."""

    CONSUMER_KEY = "1. consumer key"
    USERNAME = "2. exact username in sub"
    AUDIENCE = "3. audience matches production or sandbox"
    CERTIFICATE = "4. certificate in Salesforce matches the private key"
    USER_AUTHORIZED = "5. user allowed to use the app"
    API_PERMISSION = "6. user has API access and the right permissions"
    CLOCK = "clock"


class SfjwtError(Exception):
    """Base of every error this library raises on purpose."""

    exit_code = 1
    retryable = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments (SalesforceAuthError's error and description), so
        # pickle rebuilds from the state rather than by calling the class: errors must cross process
        # boundaries (multiprocessing, ProcessPoolExecutor) with their hint, check and codes.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


def _rebuild(cls: type[SfjwtError], args: tuple[Any, ...], state: dict[str, Any]) -> SfjwtError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigurationError(SfjwtError):
    """A setting is missing or malformed; fixing the configuration fixes it."""

    exit_code = 2


class UntrustedResponseError(ConfigurationError):
    """The token endpoint's answer failed a safety check (an instance_url off Salesforce's domains)."""


class PluginError(ConfigurationError):
    """A plugin failed to load, is not allowed, or two plugins claim the same scheme."""


class UnknownSchemeError(PluginError):
    """No installed and allowed plugin serves the reference's scheme."""


class SchemeConflictError(PluginError):
    """Two allowed plugins claim one scheme and `SFJWT_PLUGINS` does not say which one serves it."""


class MissingExtraError(PluginError):
    """The plugin serving the scheme needs an extra that is not installed (`pip install 'sfjwt-vault[aws]'`)."""


class MissingIntegrationError(ConfigurationError, ImportError):
    """An integration (`sfjwt_vault.integrations`) was imported without its client library: the message
    names the extra to install. Also an ImportError, so `except ImportError` around an optional import works."""


class KeyBackendError(SfjwtError):
    """The key could not be fetched from its store, or is not a usable key."""

    exit_code = 3


class KeyFormatError(KeyBackendError):
    """The key was fetched but is not a PEM RSA private key of at least 2048 bits."""


class TransientError(SfjwtError):
    """A network failure, timeout, 5xx or unreadable body: retrying later may succeed."""

    exit_code = 5
    retryable = True


class SalesforceAuthError(SfjwtError):
    """Salesforce's token endpoint refused the assertion (HTTP 400 with an OAuth error)."""

    exit_code = 4

    def __init__(
        self,
        error: str,
        description: str,
        *,
        check: Check | None,
        hint: str,
        retryable: bool = False,
        status_code: int = 400,
    ) -> None:
        super().__init__(f"Salesforce refused the token request: {error}: {description}", hint=hint)
        self.error = error
        self.description = description
        self.check = check
        self.retryable = retryable  # type: ignore[misc]
        self.status_code = status_code
        self.server_time: float | None = None  # the endpoint's Date header, for clock-skew hints


class InvalidClientIdError(SalesforceAuthError):
    pass


class UserNotApprovedError(SalesforceAuthError):
    pass


class InvalidAppAccessError(SalesforceAuthError):
    pass


class AppNotFoundError(SalesforceAuthError):
    pass


class AudienceInvalidError(SalesforceAuthError):
    pass


class AssertionExpiredError(SalesforceAuthError):
    def add_skew(self, local_time: float) -> None:
        """Say how far this machine's clock is from the token endpoint's (from its Date header)."""
        if self.server_time is None:
            return
        skew = local_time - self.server_time
        direction = "behind" if skew < 0 else "ahead of"
        self.hint = (
            f"This machine's clock is {abs(skew):.0f} s {direction} the token endpoint's (its Date header). "
            "Sync the clock with NTP (chrony, systemd-timesyncd); the assertion's exp is now + 180 s, so "
            "a clock more than a few minutes behind makes every assertion arrive expired."
        )


class InvalidAssertionError(SalesforceAuthError):
    pass


class InactiveUserError(SalesforceAuthError):
    pass


class IpRestrictedError(SalesforceAuthError):
    pass


class LoginRateExceededError(SalesforceAuthError):
    pass


class UnsupportedGrantTypeError(SalesforceAuthError):
    pass


class RevocationError(SfjwtError):
    """Salesforce's revocation endpoint refused to revoke a token (HTTP 400 with an OAuth error).

    `error` and `description` are Salesforce's; `revocation_error` builds the typed subclass."""

    exit_code = 4
    error = ""
    description = ""


class InvalidTokenError(RevocationError):
    """`invalid_token`: the token is no live session of the org asked (expired, revoked, or another org's)."""


class UnsupportedTokenTypeError(RevocationError):
    """`unsupported_token_type`: no token, or something that is not an access or refresh token."""


class CommandNotFoundError(SfjwtError):
    """`sfjwt exec`: the command to run does not exist (on the PATH); 127, as a shell says."""

    exit_code = 127


class CommandNotRunnableError(SfjwtError):
    """`sfjwt exec`: the command exists but cannot be run (not executable, a folder); 126, as a shell says."""

    exit_code = 126


class SalesforceUnknownError(SalesforceAuthError, TransientError):
    """`unknown_error: retry your request`: Salesforce's own transient failure."""

    exit_code = 5


# Hint pieces used in more than one place (here and in `sfjwt doctor`): each is written once.
PROPAGATION = "A new or changed app or certificate takes 2 to 10 minutes to be used."
USERNAME_FIX = (
    "the username (sub) must match a user exactly, with the sandbox suffix in a sandbox "
    "(user@acme.com.uat); a login/test host paired with the wrong audience also gives this answer"
)
PRE_AUTHORIZE_FIX = (
    "in the app, Manage > Edit Policies: Permitted Users = 'Admin approved users are pre-authorized'; then "
    "Manage Profiles / Manage Permission Sets: add the user's profile or a permission set assigned to the user"
)
_AUDIENCE_HINT = (
    "Check 3: the audience (aud) must be https://login.salesforce.com for production and "
    "https://test.salesforce.com for a sandbox (use --sandbox), or the site URL for Experience "
    "Cloud. It is a separate setting from the token URL."
)


class _Mapping(NamedTuple):
    cls: type[SalesforceAuthError]
    check: Check | None
    retryable: bool
    hint: str


# (error, description) -> what it means. Descriptions are Salesforce's exact strings; a description we
# do not know falls back to the entry for the error code alone (key with description None).
_SALESFORCE_ERRORS: dict[tuple[str, str | None], _Mapping] = {
    ("invalid_client_id", None): _Mapping(
        InvalidClientIdError,
        Check.CONSUMER_KEY,
        False,
        "Check 1: the consumer key (iss) is not known to this org. Copy it again from the Connected App "
        f"or External Client App. {PROPAGATION}",
    ),
    ("invalid_grant", "user hasn't approved this consumer"): _Mapping(
        UserNotApprovedError,
        Check.USERNAME,
        False,
        f"Check 2: {USERNAME_FIX}. Check 5: the user must be pre-authorized: {PRE_AUTHORIZE_FIX}.",
    ),
    ("invalid_app_access", None): _Mapping(
        InvalidAppAccessError,
        Check.USER_AUTHORIZED,
        False,
        "Check 5: the app is admin-approved but this user's profile or permission set is not on it. "
        "Add it under the app's Manage > Profiles / Permission Sets.",
    ),
    ("app_not_found", None): _Mapping(
        AppNotFoundError,
        Check.AUDIENCE,
        False,
        "External Client Apps answer only on the org's My Domain: set the token URL and the audience to "
        "https://<your-domain>.my.salesforce.com. Also check the app belongs to this org.",
    ),
    ("invalid_grant", "audience is invalid"): _Mapping(
        AudienceInvalidError,
        Check.AUDIENCE,
        False,
        _AUDIENCE_HINT,
    ),
    ("invalid_grant", "audience validation failed"): _Mapping(
        AudienceInvalidError,
        Check.AUDIENCE,
        False,
        _AUDIENCE_HINT,
    ),
    ("invalid_grant", "expired authorization code"): _Mapping(
        AssertionExpiredError,
        Check.CLOCK,
        True,
        "The assertion's exp was already in the past when Salesforce read it: this machine's clock is "
        "off (sync it with NTP) or a time-zone bug shifted the epoch seconds.",
    ),
    ("invalid_grant", "invalid assertion"): _Mapping(
        InvalidAssertionError,
        Check.CERTIFICATE,
        False,
        "Check 4: the signature did not verify. The certificate uploaded to the app must be the one "
        "made from this private key (compare with `sfjwt doctor --cert FILE`), and the consumer key "
        f"must be that app's. {PROPAGATION}",
    ),
    ("invalid_grant", "inactive user"): _Mapping(
        InactiveUserError,
        Check.USERNAME,
        False,
        "Check 2: the user in sub is deactivated. Reactivate it or use another integration user.",
    ),
    ("invalid_grant", "ip restricted"): _Mapping(
        IpRestrictedError,
        Check.API_PERMISSION,
        False,
        "Check 6: this caller's IP is outside the ranges allowed for the user's profile or the app. "
        "Relax IP restrictions on the app or add this egress IP to the profile's login IP ranges.",
    ),
    ("invalid_grant", "login rate exceeded"): _Mapping(
        LoginRateExceededError,
        Check.API_PERMISSION,
        False,
        "Salesforce allows 3,600 logins per user per hour and every token exchange is a login. Cache "
        "the token (one Credentials object per process) and wait before retrying; do not retry in a "
        "loop.",
    ),
    ("invalid_grant", None): _Mapping(
        SalesforceAuthError,
        None,
        False,
        "Walk the checklist: consumer key, exact username, audience prod/sandbox, certificate matches "
        "key, user pre-authorized, API permission (`sfjwt doctor` does it for you).",
    ),
    ("unsupported_grant_type", None): _Mapping(
        UnsupportedGrantTypeError,
        None,
        False,
        "The request did not reach the token endpoint as a form-encoded JWT bearer grant: check the "
        "token URL points at /services/oauth2/token and no proxy rewrites the body.",
    ),
    ("unknown_error", None): _Mapping(
        SalesforceUnknownError,
        None,
        True,
        "A transient Salesforce failure: retry with backoff. If it persists on test.salesforce.com, "
        "use the sandbox's My Domain as the token URL.",
    ),
}

_MAX_DESCRIPTION = 200
_SECRETISH = re.compile(r"eyJ[\w-]*\.[\w-]*\.?[\w-]*|[A-Za-z0-9+/=_!.-]{40,}")


def scrub(text: str) -> str:
    """Cut server text short and drop anything shaped like a JWT or a long token from it.

    The token endpoint's strings are fixed and short, but a proxy or a broken server could echo the
    request back; this keeps an echoed assertion out of our messages.
    """
    return _SECRETISH.sub("[redacted]", text[:_MAX_DESCRIPTION])


def salesforce_error(error: str, description: str, status_code: int = 400) -> SalesforceAuthError:
    """Turn the token endpoint's `error` / `error_description` pair into its typed exception."""
    error = scrub(error)
    description = scrub(description)
    mapping = _SALESFORCE_ERRORS.get((error, description.lower())) or _SALESFORCE_ERRORS.get((error, None))
    if mapping is None:
        mapping = _SALESFORCE_ERRORS[("invalid_grant", None)]
    return mapping.cls(
        error,
        description,
        check=mapping.check,
        hint=mapping.hint,
        retryable=mapping.retryable,
        status_code=status_code,
    )


_REVOCATION_HINTS: dict[str, tuple[type[RevocationError], str]] = {
    "invalid_token": (
        InvalidTokenError,
        "the token is not a live session of this org: it expired or was revoked already, or it belongs to "
        "another org (the revocation goes to the token URL's host, SF_TOKEN_URL)",
    ),
    "unsupported_token_type": (
        UnsupportedTokenTypeError,
        "Salesforce revokes access and refresh tokens only: check that a whole access token was given",
    ),
}


def revocation_error(error: str, description: str) -> RevocationError:
    """Turn the revocation endpoint's `error` / `error_description` pair into its typed exception."""
    error, description = scrub(error), scrub(description)
    cls, hint = _REVOCATION_HINTS.get(
        error, (RevocationError, "an answer the revocation endpoint does not document: check the token URL")
    )
    exc = cls(f"Salesforce refused to revoke the token: {error}: {description or '(no description)'}", hint=hint)
    exc.error, exc.description = error, description
    return exc
