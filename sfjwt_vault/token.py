"""AccessToken: what a successful exchange returns. Its repr never shows the token."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True, repr=False)
class AccessToken:
    """A Salesforce session. There is no expiry in the response: the session lives for the org's
    timeout and slides with use, so `issued_at` (seconds since the epoch) is what we know."""

    access_token: str = field(repr=False)
    instance_url: str
    id: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    scope: str = ""
    issued_at: float = field(default_factory=time.time)
    api_instance_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_response(cls, data: dict[str, Any]) -> AccessToken:
        issued_ms = data.get("issued_at")
        try:
            issued = int(issued_ms) / 1000.0 if issued_ms is not None else time.time()
        except (TypeError, ValueError):
            issued = time.time()
        known = {"access_token", "instance_url", "id", "token_type", "scope", "issued_at", "api_instance_url"}
        extra = {k: v for k, v in data.items() if k not in known and k != "signature"}
        return cls(
            access_token=str(data["access_token"]),
            instance_url=str(data["instance_url"]).rstrip("/"),
            id=str(data.get("id", "")),
            token_type=str(data.get("token_type") or "Bearer"),
            scope=str(data.get("scope") or ""),
            issued_at=issued,
            api_instance_url=data.get("api_instance_url"),
            extra=extra,
        )

    @property
    def org_id(self) -> str | None:
        parts = self.id.rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 and "/id/" in self.id else None

    @property
    def user_id(self) -> str | None:
        return self.id.rstrip("/").split("/")[-1] if "/id/" in self.id else None

    def authorization_header(self) -> str:
        return f"{self.token_type or 'Bearer'} {self.access_token}"

    def to_dict(self) -> dict[str, Any]:
        """Everything, token included: for the CLI's `token` output, which exists to print it."""
        return {
            "access_token": self.access_token,
            "instance_url": self.instance_url,
            "id": self.id,
            "token_type": self.token_type,
            "scope": self.scope,
            "issued_at": str(int(self.issued_at * 1000)),
        }

    def __repr__(self) -> str:
        """The shown fields that have a value: empty ones (`api_instance_url=None`, `scope=''`) are left out."""
        shown = (f for f in fields(self) if f.repr)
        parts = (f"{f.name}={getattr(self, f.name)!r}" for f in shown if getattr(self, f.name) not in (None, ""))
        return f"AccessToken({', '.join(parts)})"

    def __str__(self) -> str:
        return repr(self)
