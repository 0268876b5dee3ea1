"""Every token-endpoint error in the facts sheet maps to its typed exception, check and hint."""

from __future__ import annotations

import pytest

from sfjwt_vault import errors
from sfjwt_vault.errors import Check, salesforce_error

# (error, exact description, class, checklist line, retryable) - as docs/salesforce.md lists them
FACTS = [
    ("invalid_client_id", "client identifier invalid", errors.InvalidClientIdError, Check.CONSUMER_KEY, False),
    ("invalid_grant", "user hasn't approved this consumer", errors.UserNotApprovedError, Check.USERNAME, False),
    (
        "invalid_app_access",
        "user is not admin approved to access this app",
        errors.InvalidAppAccessError,
        Check.USER_AUTHORIZED,
        False,
    ),
    (
        "app_not_found",
        "External client app is not installed in this org",
        errors.AppNotFoundError,
        Check.AUDIENCE,
        False,
    ),
    ("invalid_grant", "audience is invalid", errors.AudienceInvalidError, Check.AUDIENCE, False),
    ("invalid_grant", "Audience validation failed", errors.AudienceInvalidError, Check.AUDIENCE, False),
    ("invalid_grant", "expired authorization code", errors.AssertionExpiredError, Check.CLOCK, True),
    ("invalid_grant", "invalid assertion", errors.InvalidAssertionError, Check.CERTIFICATE, False),
    ("invalid_grant", "inactive user", errors.InactiveUserError, Check.USERNAME, False),
    ("invalid_grant", "ip restricted", errors.IpRestrictedError, Check.API_PERMISSION, False),
    ("invalid_grant", "login rate exceeded", errors.LoginRateExceededError, Check.API_PERMISSION, False),
    ("unsupported_grant_type", "grant type not supported", errors.UnsupportedGrantTypeError, None, False),
    ("unknown_error", "retry your request", errors.SalesforceUnknownError, None, True),
]


@pytest.mark.parametrize("error, description, cls, check, retryable", FACTS)
def test_mapping(error: str, description: str, cls: type, check: Check | None, retryable: bool) -> None:
    exc = salesforce_error(error, description)
    assert type(exc) is cls
    assert (exc.error, exc.description, exc.check, exc.retryable) == (error, description, check, retryable)
    assert exc.hint
    assert description in str(exc) and "hint:" in str(exc)
    assert exc.exit_code == (5 if retryable and cls is errors.SalesforceUnknownError else 4)


def test_unknown_transient_error_is_a_transient_error() -> None:
    assert isinstance(salesforce_error("unknown_error", "retry your request"), errors.TransientError)


def test_unknown_codes_fall_back_to_the_checklist() -> None:
    exc = salesforce_error("brand_new_error", "something new")
    assert type(exc) is errors.SalesforceAuthError
    assert "sfjwt doctor" in (exc.hint or "") or "checklist" in (exc.hint or "")


def test_server_text_echoing_a_token_is_scrubbed() -> None:
    echoed = "bad assertion eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
    exc = salesforce_error("invalid_grant", echoed)
    assert "eyJ" not in str(exc)
    long_token = "00D5g000004XXXX!" + "A" * 80
    assert "A" * 40 not in str(salesforce_error("invalid_grant", long_token))
