"""Faults a test can queue on the token endpoint: what a real login host does on a bad day."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .wire import Reply, oauth_error

FAULTS = ("503", "500", "html", "empty", "stall", "unknown_error", "redirect", "huge", "rate")


@dataclass
class Fault:
    kind: str
    seconds: float = 0.0


def fault_reply(fault: Fault) -> Reply | None:
    """The reply for an injected fault, or None when the request should then proceed normally."""
    kind = fault.kind
    if kind == "stall":
        time.sleep(fault.seconds)
        return None
    if kind == "503":
        page = b"<html><head><title>503 Service Unavailable</title></head><body>Maintenance</body></html>"
        return Reply(503, page, "text/html;charset=UTF-8", note="injected fault")
    if kind == "500":
        return Reply(500, b"", None, note="injected fault")
    if kind == "html":
        page = b"<!DOCTYPE html><html><body><h1>Login</h1><form>...</form></body></html>"
        return Reply(200, page, "text/html;charset=UTF-8", note="injected fault")
    if kind == "empty":
        return Reply(200, b"", note="injected fault")
    if kind == "unknown_error":
        return oauth_error("unknown_error", "retry your request")
    if kind == "redirect":
        location = "https://evil.example.com/services/oauth2/token"
        return Reply(302, b"", None, {"Location": location}, note="injected fault")
    if kind == "huge":
        return Reply(200, b'{"padding": "' + b"x" * (5 * 1024 * 1024) + b'"}', note="injected fault")
    if kind == "rate":
        return oauth_error("invalid_grant", "login rate exceeded")
    raise AssertionError(kind)  # pragma: no cover - SalesforceEmulator.inject validates names
