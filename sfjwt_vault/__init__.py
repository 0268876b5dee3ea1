"""sfjwt-vault: Salesforce access tokens through the OAuth 2.0 JWT Bearer flow, keys in a secrets manager.

    from sfjwt_vault import Credentials
    creds = Credentials.from_env()
    token = creds.get_token()

Key backends are plugins found through the `sfjwt_vault` entry-point group, loaded on first use.
"""

from __future__ import annotations

from .credentials import Credentials
from .endpoints import PRODUCTION, SANDBOX
from .errors import (
    Check,
    ConfigurationError,
    KeyBackendError,
    KeyFormatError,
    PluginError,
    SalesforceAuthError,
    SfjwtError,
    TransientError,
    UnknownSchemeError,
)
from .events import ExchangeFailed, TokenIssued
from .hookspecs import hookimpl
from .keyref import KeyRef
from .secret import SecretBuffer
from .signer import LocalSigner, Signer
from .token import AccessToken

__version__ = "0.1.0"

__all__ = [
    "PRODUCTION",
    "SANDBOX",
    "AccessToken",
    "Check",
    "ConfigurationError",
    "Credentials",
    "ExchangeFailed",
    "KeyBackendError",
    "KeyFormatError",
    "KeyRef",
    "LocalSigner",
    "PluginError",
    "SalesforceAuthError",
    "SecretBuffer",
    "SfjwtError",
    "Signer",
    "TokenIssued",
    "TransientError",
    "UnknownSchemeError",
    "hookimpl",
]
