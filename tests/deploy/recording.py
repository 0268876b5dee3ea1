"""The emulator, keeping the secrets it saw (assertions) and made (access tokens), and the check that
none of them, nor the key, appears in a text (tests/hygiene's `Secrets`)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt

from sfjwt_vault.testing.emulator import SalesforceEmulator
from tests.hygiene.test_no_secret_output import Secrets


class RecordingEmulator(SalesforceEmulator):
    """The emulator, also keeping every assertion it was sent and every token it issued."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.assertions: list[str] = []
        self.tokens: list[str] = []

    def _record_assertion(self, assertion: str) -> None:
        self.assertions.append(assertion)
        super()._record_assertion(assertion)

    def _issue(self, user: Any, now: float) -> Any:
        reply = super()._issue(user, now)
        self.tokens.append(json.loads(reply.body)["access_token"])
        return reply


def secrets_seen(org: RecordingEmulator, pem: bytes | None, *others: str) -> Secrets:
    """What must never be printed: the key's PEM (if it ever was in a process), every assertion (and
    its signature in standard base64, as a KMS or Transit response carries it), every access token,
    and `others` (Vault tokens, secret ids)."""
    found = Secrets(pem or b"")
    if not pem:
        found.keys = []
    found.assertions = list(org.assertions)
    found.tokens = [*org.tokens, *others]
    for assertion in org.assertions:
        signature = jwt.utils.base64url_decode(assertion.rsplit(".", 1)[-1])
        found.tokens.append(base64.b64encode(signature).decode()[:32])
    assert found.assertions or not org.exchange_count, "no assertion recorded: the search would prove nothing"
    return found
