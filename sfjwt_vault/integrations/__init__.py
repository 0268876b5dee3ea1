"""The clients people already use, fed by `Credentials`: sessions that renew themselves.

- `sfjwt_vault.integrations.requests.CredentialsAuth`: a `requests` auth (extra `requests`).
- `sfjwt_vault.integrations.simple_salesforce.Salesforce`: simple-salesforce's client (extra
  `simple-salesforce`).
- `sfjwt_vault.integrations.aiosalesforce.CredentialsAuth`: an aiosalesforce `Auth` (extra
  `aiosalesforce`).

`Credentials` itself is the `httpx.Auth`. Each re-mints once when Salesforce says the session is gone
(`sfjwt_vault.credentials.session_expired`: 401 INVALID_SESSION_ID, not the REST-policy 401 nor 403
REQUEST_LIMIT_EXCEEDED), through the credentials' single flight, and retries the request once with the
new token. Nothing here is imported by `import sfjwt_vault`; importing a module whose client library is
missing raises `MissingIntegrationError` (also an ImportError) naming the extra.
"""

from __future__ import annotations

from ..errors import MissingIntegrationError


def missing(module: str, package: str, extra: str) -> MissingIntegrationError:
    """The error for `sfjwt_vault.integrations.<module>` imported without `package` installed."""
    return MissingIntegrationError(
        f"sfjwt_vault.integrations.{module} needs {package}, which is not installed",
        hint=f"pip install 'sfjwt-vault[{extra}]'",
    )
