"""Test helpers that ship with sfjwt-vault: a Salesforce emulator, test keys, and pytest fixtures.

Use them to test an integration offline; nothing here talks to a real Salesforce org.
"""

from __future__ import annotations

from .emulator import App, SalesforceEmulator, User, make_test_keypair, make_tls_context

__all__ = ["App", "SalesforceEmulator", "User", "make_test_keypair", "make_tls_context"]
