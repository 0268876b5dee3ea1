"""What the emulator's HTTP layer and its resources hand each other: a parsed request, a reply.

The resources never touch sockets and the server never decides an answer, so each can be read alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

JSON = "application/json;charset=UTF-8"


@dataclass(frozen=True)
class Request:
    """One HTTP request, its body already read (chunked or not)."""

    method: str
    path: str
    query: Mapping[str, str]  # the first value of each query parameter
    headers: Message  # case-insensitive, as http.server parses them
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name) or ""


@dataclass
class Reply:
    """An answer. `note` is a short, secret-free reason shown in the request log (e.g. the OAuth error)."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""


def json_reply(status: int, payload: Any, *, note: str = "") -> Reply:
    return Reply(status, json.dumps(payload).encode(), note=note)


def oauth_error(error: str, description: str) -> Reply:
    """The OAuth endpoints' error shape: HTTP 400 with `error` and `error_description`."""
    return json_reply(400, {"error": error, "error_description": description}, note=f"{error}: {description}")


def api_error(status: int, error_code: str, message: str) -> Reply:
    """The REST API's error shape: a list of `{message, errorCode}`."""
    return json_reply(status, [{"message": message, "errorCode": error_code}], note=error_code)


def not_found() -> Reply:
    return api_error(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> Reply:
    """What every REST resource answers for a missing, unknown, expired or revoked session."""
    return api_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


def bad_oauth_token() -> Reply:
    """The identity service's answer to a bad token: a plain-text 403."""
    return Reply(403, b"Bad_OAuth_Token", "text/plain;charset=UTF-8", note="Bad_OAuth_Token")
