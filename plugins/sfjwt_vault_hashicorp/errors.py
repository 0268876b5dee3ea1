"""Vault failures turned into KeyBackendError / TransientError with a hint that names the fix.

Messages name the reference, the Vault path and the policy to grant; never a token, secret id or key.
Vault's own error strings are short fixed texts; they are scrubbed and cut anyway, and exceptions are
raised `from None` so no response object (which may hold a secret) rides along in a traceback.
"""

from __future__ import annotations

from typing import Any, NoReturn

from sfjwt_vault.plugin_api import ConfigurationError, KeyBackendError, TransientError, scrub


class VaultPermissionDeniedError(KeyBackendError):
    """The token is valid but its policies do not grant the capability on that path."""


class VaultTokenInvalidError(KeyBackendError):
    """The token is expired, revoked or was never valid."""


class VaultAgentTokenRefusedError(VaultTokenInvalidError, TransientError):
    """The token a Vault Agent / Proxy manages was refused (revoked, expired): the Agent logs in again
    by itself, so a later attempt succeeds. Retryable, unlike a token the user manages."""

    exit_code = 5


class VaultSealedError(TransientError):
    """Vault answered but is sealed (503): nothing can be read until it is unsealed."""


class VaultUnreachableError(TransientError):
    """No answer from Vault (connection refused, DNS, TLS, timeout)."""


class VaultNotFoundError(KeyBackendError):
    """No secret (or key, or mount) at that path."""


class VaultAuthMethodMissingError(ConfigurationError):
    """The auth method is not enabled at the mount (or the server, e.g. OpenBao, has no such method)."""


def vault_messages(exc: BaseException) -> list[str]:
    """Vault's `errors` and `warnings` strings from an hvac exception, scrubbed."""
    texts: list[str] = []
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list):
        texts.extend(str(e) for e in errors)
    elif isinstance(errors, str):
        texts.append(errors)
    body: Any = getattr(exc, "json", None)
    if isinstance(body, dict):
        for key in ("errors", "warnings"):
            value = body.get(key)
            if isinstance(value, list):
                texts.extend(str(v) for v in value if str(v) not in texts)
    return [scrub(t) for t in texts if t]


def translate(
    exc: BaseException,
    *,
    what: str,
    path: str,
    capability: str = "read",
    addr: str = "",
) -> NoReturn:
    """Raise the typed error for an hvac/requests exception raised while doing `what` on `path`."""
    import hvac.exceptions
    import requests

    said = "; ".join(vault_messages(exc))
    detail = f" (Vault said: {said})" if said else ""
    if isinstance(exc, requests.exceptions.SSLError):
        raise VaultUnreachableError(
            f"TLS to Vault at {addr} failed while trying to {what}",
            hint="set VAULT_CACERT (or BAO_CACERT) to the CA bundle that signed Vault's certificate",
        ) from None
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        raise VaultUnreachableError(
            f"Vault at {addr} is unreachable while trying to {what}",
            hint="check VAULT_ADDR (or BAO_ADDR), the network path and that Vault is running "
            "(`bao status` / `vault status`)",
        ) from None
    if isinstance(exc, hvac.exceptions.VaultDown):
        raise VaultSealedError(
            f"Vault at {addr} is sealed (or in standby without a leader) while trying to {what}",
            hint="unseal it (`bao operator unseal` / `vault operator unseal`) or wait for auto-unseal; retry later",
        ) from None
    if isinstance(exc, hvac.exceptions.Forbidden):
        raise VaultPermissionDeniedError(
            f"permission denied: the Vault token may not {what} ({capability} on {path!r}){detail}",
            hint=f'grant it in a policy attached to this token or role: path "{path}" '
            f'{{ capabilities = ["{capability}"] }}',
        ) from None
    if isinstance(exc, hvac.exceptions.InvalidPath):
        if "versioned K/V" in said:
            raise KeyBackendError(
                f"wrong KV version: {path!r} is on a KV version 2 mount but was read as version 1",
                hint="drop ?kv=1 from the reference (or use ?kv=2)",
            ) from None
        if "no handler for route" in said and path.startswith("auth/"):
            raise VaultAuthMethodMissingError(
                f"no auth method is enabled at {path.rsplit('/', 1)[0]!r}{detail}",
                hint="enable it (`bao auth enable ...`) or set SFJWT_VAULT_AUTH_MOUNT to where it is mounted",
            ) from None
        if "no handler for route" in said:
            raise VaultNotFoundError(
                f"no secrets engine is mounted where Vault path {path!r} points (while trying to {what})",
                hint="check the mount name (the first path segment, or ?mount=) against `bao secrets list` "
                "and VAULT_NAMESPACE",
            ) from None
        raise VaultNotFoundError(
            f"nothing found at Vault path {path!r} while trying to {what}{detail}",
            hint="check the mount and path in the reference (and VAULT_NAMESPACE); "
            "for a KV mount that is not the first path segment, add ?mount=<mount>",
        ) from None
    if isinstance(exc, hvac.exceptions.RateLimitExceeded):
        raise TransientError(f"Vault rate-limited the request to {what}", hint="retry with backoff") from None
    if isinstance(exc, (hvac.exceptions.InternalServerError, hvac.exceptions.BadGateway)):
        raise TransientError(f"Vault failed while trying to {what}{detail}", hint="retry; check Vault's logs") from None
    if isinstance(exc, hvac.exceptions.VaultError):
        raise KeyBackendError(f"Vault refused to {what} at {path!r}{detail}") from None
    raise KeyBackendError(f"could not {what} at {path!r}: {type(exc).__name__}") from None
