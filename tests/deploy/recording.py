"""The emulator, keeping the secrets it saw (assertions) and made (access tokens), and the check that
none of them, nor the key, appears in a text (tests/hygiene's `Secrets`)."""

from __future__ import annotations

import json
from typing import Any

from sfjwt_vault.testing.emulator import SalesforceEmulator
from tests.hygiene.needles import Secrets


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
    """What must never be printed: the key's PEM (if it ever was in a process), every assertion (in
    every encoding `Secrets` searches, the signature in standard base64 as KMS and Transit carry it
    included), every access token, and `others` (Vault tokens, secret ids)."""
    found = Secrets([pem] if pem else [])
    found.assertions = list(org.assertions)
    found.tokens = [*org.tokens, *others]
    assert found.assertions or not org.exchange_count, "no assertion recorded: the search would prove nothing"
    return found
