"""Connection and authentication settings, read from the environment.

Vault's own variables (VAULT_ADDR, VAULT_TOKEN, ...) and OpenBao's (BAO_ADDR, BAO_TOKEN, ...) are both
honoured because hvac reads neither consistently; when both are set, VAULT_* wins. Everything specific
to sfjwt-vault is SFJWT_VAULT_*. What the TLS variables do is in `connection`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from sfjwt_vault.plugin_api import ConfigurationError

AUTH_METHODS = ("token", "agent", "approle", "jwt", "kubernetes", "aws")
DEFAULT_K8S_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105  # nosec B105 - a path
DEFAULT_ADDR = "https://127.0.0.1:8200"
_TRUE = {"1", "true", "yes", "on", "t"}


def _get(env: Mapping[str, str], name: str) -> str | None:
    """VAULT_<name>, else BAO_<name>; empty counts as unset."""
    for prefix in ("VAULT_", "BAO_"):
        value = env.get(prefix + name)
        if value:
            return value
    return None


class VaultSettings(NamedTuple):
    """Where Vault is and how to log in. Holds no secret: tokens and secret ids are read at login."""

    addr: str
    namespace: str | None
    cacert: str | None
    capath: str | None
    skip_verify: bool
    auth: str
    auth_mount: str
    role_id: str | None
    role: str | None
    secret_id_file: str | None
    jwt_file: str | None
    token_file: str | None
    aws_region: str | None
    aws_header_value: str | None
    addr_from_env: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VaultSettings:
        env = os.environ if environ is None else environ
        addr = _get(env, "ADDR")
        auth = (env.get("SFJWT_VAULT_AUTH") or "").strip().lower()
        if not auth:
            auth = "approle" if env.get("SFJWT_VAULT_ROLE_ID") else "token"
        if auth not in AUTH_METHODS:
            raise ConfigurationError(
                f"SFJWT_VAULT_AUTH={auth!r} is not a supported Vault auth method",
                hint=f"use one of: {', '.join(AUTH_METHODS)}",
            )
        jwt_file = env.get("SFJWT_VAULT_JWT_FILE") or None
        if auth == "kubernetes" and not jwt_file:
            jwt_file = DEFAULT_K8S_TOKEN_FILE
        skip = (_get(env, "SKIP_VERIFY") or "").strip().lower() in _TRUE
        return cls(
            addr=(addr or DEFAULT_ADDR).rstrip("/"),
            namespace=_get(env, "NAMESPACE"),
            cacert=_get(env, "CACERT"),
            capath=_get(env, "CAPATH"),
            skip_verify=skip,
            auth=auth,
            auth_mount=(env.get("SFJWT_VAULT_AUTH_MOUNT") or auth).strip("/"),
            role_id=env.get("SFJWT_VAULT_ROLE_ID") or None,
            role=env.get("SFJWT_VAULT_ROLE") or None,
            secret_id_file=env.get("SFJWT_VAULT_SECRET_ID_FILE") or None,
            jwt_file=jwt_file,
            token_file=env.get("SFJWT_VAULT_TOKEN_FILE") or None,
            aws_region=env.get("SFJWT_VAULT_AWS_REGION") or None,
            aws_header_value=env.get("SFJWT_VAULT_AWS_HEADER_VALUE") or None,
            addr_from_env=addr is not None,
        )

    def cache_key(self) -> tuple[object, ...]:
        """Settings that need their own client (one per process per distinct configuration)."""
        return (
            self.addr,
            self.namespace,
            self.cacert,
            self.capath,
            self.skip_verify,
            self.auth,
            self.auth_mount,
            self.role_id,
            self.role,
            self.secret_id_file,
            self.jwt_file,
            self.token_file,
        )
