"""Test helpers that ship with sfjwt-vault: a Salesforce emulator, test keys, and pytest fixtures.

Use them to test an integration offline; nothing here talks to a real Salesforce org. The emulator's
modules: `emulator` (the org and its token endpoint), `rest` (REST subset and identity service),
`soql` and `sobjects` (queries over the records it holds), `server` (HTTP/1.1, TLS, proxy tunnel),
`certificates` (test key pairs, throwaway CA), `faults`, `cli` (`sfjwt emulator`), `pytest_plugin`.
"""

from __future__ import annotations

from .certificates import ThrowawayCA, make_test_keypair, make_tls_context
from .emulator import App, SalesforceEmulator, User

__all__ = ["App", "SalesforceEmulator", "ThrowawayCA", "User", "make_test_keypair", "make_tls_context"]
