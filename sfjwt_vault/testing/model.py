"""The records an emulated org holds: apps, users, and the sessions its token endpoint issued."""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass

TOKEN_CHARS = string.ascii_letters + string.digits + "._"
ID_CHARS = string.ascii_letters + string.digits


def random_text(chars: str, n: int) -> str:
    return "".join(secrets.choice(chars) for _ in range(n))


def record_id(prefix: str) -> str:
    """A Salesforce-looking 18-character record id: 3-character key prefix + 15 random characters."""
    return prefix + random_text(ID_CHARS, 15)


@dataclass
class App:
    """A Connected App ("connected") or External Client App ("external") holding ONE certificate.

    Mutable on purpose: replace `certificate_pem` to emulate a key rotation.
    """

    consumer_key: str
    certificate_pem: bytes
    kind: str = "connected"


@dataclass
class User:
    """An org user; flip the flags to provoke the matching token-endpoint errors."""

    username: str
    user_id: str
    active: bool = True
    preauthorized: bool = True
    admin_approved: bool = True
    ip_restricted: bool = False
    api_enabled: bool = True
    first_name: str | None = None
    last_name: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        local = self.username.split("@", 1)[0]
        self.last_name = self.last_name or local.replace(".", " ").title() or "User"
        self.email = self.email or self.username

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.first_name else self.last_name


@dataclass
class Session:
    user: User
    expires_at: float


class Sessions:
    """Live sessions by access token. Only SHA-256 digests of the tokens are kept.

    Not thread-safe on its own: the emulator calls it with its lock held.
    """

    def __init__(self) -> None:
        self._by_digest: dict[bytes, Session] = {}

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "replace")).digest()

    def issue(self, org_id: str, user: User, expires_at: float) -> str:
        token = f"{org_id}!" + random_text(TOKEN_CHARS, 96)
        self._by_digest[self._digest(token)] = Session(user, expires_at)
        return token

    def live(self, token: str, now: float) -> Session | None:
        """The session behind `token` if it has not expired; an expired one is forgotten."""
        digest = self._digest(token)
        session = self._by_digest.get(digest)
        if session is not None and session.expires_at <= now:
            del self._by_digest[digest]
            return None
        return session

    def revoke(self, token: str, now: float) -> bool:
        """End the session behind `token`; False if there was no live one."""
        return self.live(token, now) is not None and self._by_digest.pop(self._digest(token), None) is not None

    def clear(self) -> None:
        self._by_digest.clear()

    def live_count(self, now: float) -> int:
        return sum(1 for session in self._by_digest.values() if session.expires_at > now)
