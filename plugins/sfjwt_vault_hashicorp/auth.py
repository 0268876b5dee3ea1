"""Logging in to Vault: token sources and the login methods (AppRole, JWT, Kubernetes, AWS IAM).

Each login function returns Vault's `auth` block (client_token, lease_duration, renewable). Secret ids,
JWTs and tokens are read from the environment or their files at login time and not kept, except the
secret id unwrapped from a response-wrapped token, which is single-use and so must be kept for the
next login (see docs/vault.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfjwt_vault.plugin_api import ConfigurationError, KeyBackendError

from .errors import VaultAuthMethodMissingError, translate, vault_messages
from .settings import VaultSettings

MAX_CREDENTIAL_FILE = 64 * 1024


def read_small_file(path: str, what: str) -> str:
    """A token or JWT from a file (Vault Agent sink, Kubernetes service-account token), stripped."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as handle:
            text = handle.read(MAX_CREDENTIAL_FILE + 1)
    except FileNotFoundError:
        raise ConfigurationError(f"the {what} file {path!r} does not exist") from None
    except PermissionError:
        raise ConfigurationError(f"the {what} file {path!r} is not readable by this user") from None
    if len(text) > MAX_CREDENTIAL_FILE:
        raise ConfigurationError(f"the {what} file {path!r} is too large to be a {what}")
    text = text.strip()
    if not text:
        raise ConfigurationError(f"the {what} file {path!r} is empty")
    return text


def static_token(settings: VaultSettings, env: Mapping[str, str]) -> str | None:
    """VAULT_TOKEN / BAO_TOKEN, else SFJWT_VAULT_TOKEN_FILE, else ~/.vault-token, else None (agent)."""
    for name in ("VAULT_TOKEN", "BAO_TOKEN"):
        value = (env.get(name) or "").strip()
        if value:
            return value
    if settings.token_file:
        return read_small_file(settings.token_file, "Vault token")
    home_file = Path(env.get("HOME") or os.path.expanduser("~")) / ".vault-token"
    if home_file.is_file():
        return read_small_file(str(home_file), "Vault token")
    return None


def agent_token(settings: VaultSettings) -> str | None:
    """`agent`: the Agent's file sink (SFJWT_VAULT_TOKEN_FILE), read on every use; else no token at all,
    for an Agent / Proxy listener with `use_auto_auth_token`. VAULT_TOKEN and ~/.vault-token are ignored."""
    return read_small_file(settings.token_file, "Vault token") if settings.token_file else None


def _auth_block(response: Any, method: str) -> dict[str, Any]:
    auth = response.get("auth") if isinstance(response, dict) else None
    if not isinstance(auth, dict) or not auth.get("client_token"):
        raise KeyBackendError(f"Vault's {method} login answered without a token")
    return auth


def login(client: Any, settings: VaultSettings, env: Mapping[str, str], secret_id: str | None) -> dict[str, Any]:
    """Log in with the configured method; `secret_id` is the kept unwrapped AppRole secret id, if any."""
    import hvac.exceptions
    import requests

    method, mount = settings.auth, settings.auth_mount
    path = f"auth/{mount}/login"
    client.token = None
    try:
        if method == "approle":
            if not settings.role_id:
                raise ConfigurationError("AppRole login needs SFJWT_VAULT_ROLE_ID")
            sid = secret_id or approle_secret_id(settings, env)
            response = client.auth.approle.login(role_id=settings.role_id, secret_id=sid, mount_point=mount)
        elif method == "jwt":
            response = client.auth.jwt.jwt_login(role=_role(settings), jwt=_jwt(settings, env), path=mount)
        elif method == "kubernetes":
            response = client.auth.kubernetes.login(role=_role(settings), jwt=_jwt(settings, env), mount_point=mount)
        elif method == "aws":
            response = aws_iam_login(client, settings)
        else:  # pragma: no cover - settings validate the method
            raise ConfigurationError(f"unknown auth method {method!r}")
    except hvac.exceptions.Forbidden:
        # Unauthenticated, Vault answers 403 both for refused credentials and for a login path where no
        # auth method is mounted, so the hint names both.
        raise VaultAuthMethodMissingError(
            f"Vault refused the {method} login at {path!r} (permission denied): either no {method} auth "
            f"method is enabled at 'auth/{mount}', or it refused these credentials",
            hint=_missing_hint(method) + "; otherwise " + _login_hint(method),
        ) from None
    except (hvac.exceptions.InvalidRequest, hvac.exceptions.Unauthorized) as exc:
        said = "; ".join(vault_messages(exc)) or type(exc).__name__
        raise KeyBackendError(
            f"Vault {method} login at {path!r} failed (Vault said: {said})",
            hint=_login_hint(method),
        ) from None
    except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
        try:
            translate(exc, what=f"log in with {method}", path=path, capability="update", addr=settings.addr)
        except VaultAuthMethodMissingError as missing:
            raise VaultAuthMethodMissingError(missing.message, hint=_missing_hint(method)) from None
    return _auth_block(response, method)


def approle_secret_id(settings: VaultSettings, env: Mapping[str, str]) -> str | None:
    """SFJWT_VAULT_SECRET_ID, else SFJWT_VAULT_SECRET_ID_FILE, else None (role without secret id)."""
    value = (env.get("SFJWT_VAULT_SECRET_ID") or "").strip()
    if value:
        return value
    if settings.secret_id_file:
        return read_small_file(settings.secret_id_file, "AppRole secret id")
    return None


def unwrap_secret_id(client: Any, settings: VaultSettings, wrapping_token: str) -> str:
    """Unwrap a response-wrapped AppRole secret id (single use: Vault refuses a second unwrap)."""
    import hvac.adapters
    import hvac.exceptions
    import requests

    client.token = None
    try:
        response = hvac.adapters.RawAdapter.request(
            client.adapter, "POST", "/v1/sys/wrapping/unwrap", headers={"X-Vault-Token": wrapping_token}
        )
        body = response.json()
    except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden) as exc:
        said = "; ".join(vault_messages(exc)) or type(exc).__name__
        raise KeyBackendError(
            f"could not unwrap SFJWT_VAULT_WRAPPED_SECRET_ID (Vault said: {said})",
            hint="a wrapping token works once and expires with its wrap TTL: issue a new one "
            "(`bao write -wrap-ttl=5m -f auth/approle/role/<role>/secret-id`)",
        ) from None
    except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
        translate(exc, what="unwrap the secret id", path="sys/wrapping/unwrap", capability="update", addr=settings.addr)
    data = body.get("data") if isinstance(body, dict) else None
    sid = data.get("secret_id") if isinstance(data, dict) else None
    if not isinstance(sid, str) or not sid:
        raise KeyBackendError(
            "the wrapped response held no secret_id",
            hint="wrap the output of auth/approle/role/<role>/secret-id, not another secret",
        )
    return sid


def aws_iam_login(client: Any, settings: VaultSettings) -> Any:
    """AWS IAM login with boto3's credentials (Lambda: the function role's). Vault only: OpenBao has no
    AWS auth method, so against OpenBao this fails with VaultAuthMethodMissingError."""
    try:
        import boto3
    except ImportError:
        raise ConfigurationError(
            "SFJWT_VAULT_AUTH=aws needs boto3", hint="pip install 'sfjwt-vault[aws,vault]'"
        ) from None
    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigurationError(
            "SFJWT_VAULT_AUTH=aws found no AWS credentials",
            hint="run inside Lambda/ECS/EC2 with a role, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    frozen = credentials.get_frozen_credentials()
    # hvac always builds the request for the global STS endpoint (sts.amazonaws.com), which Vault's aws
    # method uses by default and which wants a us-east-1 signature, whatever region the Lambda runs in.
    # SFJWT_VAULT_AWS_REGION changes the signing region for a Vault configured with a matching sts_region.
    region = settings.aws_region or "us-east-1"
    return client.auth.aws.iam_login(
        access_key=frozen.access_key,
        secret_key=frozen.secret_key,
        session_token=frozen.token,
        header_value=settings.aws_header_value,
        role=settings.role,
        region=region,
        mount_point=settings.auth_mount,
    )


def _role(settings: VaultSettings) -> str:
    if not settings.role:
        raise ConfigurationError(
            f"{settings.auth} login needs SFJWT_VAULT_ROLE", hint="set it to the Vault role to log in as"
        )
    return settings.role


def _jwt(settings: VaultSettings, env: Mapping[str, str]) -> str:
    value = (env.get("SFJWT_VAULT_JWT") or "").strip()
    if value:
        return value
    if not settings.jwt_file:
        raise ConfigurationError("JWT login needs SFJWT_VAULT_JWT_FILE (or SFJWT_VAULT_JWT)")
    return read_small_file(settings.jwt_file, "JWT")


def _missing_hint(method: str) -> str:
    if method == "aws":
        return (
            "check `vault auth list` shows aws/ (enable it with `vault auth enable aws`) or set "
            "SFJWT_VAULT_AUTH_MOUNT; OpenBao has no AWS auth method: use approle or jwt there"
        )
    return f"check `bao auth list` / `vault auth list` shows the {method} method, or set SFJWT_VAULT_AUTH_MOUNT"


def _login_hint(method: str) -> str:
    return {
        "approle": "check SFJWT_VAULT_ROLE_ID and the secret id (expired, used up or for another role?) "
        "and SFJWT_VAULT_AUTH_MOUNT",
        "jwt": "check SFJWT_VAULT_ROLE, the JWT's audience/claims against the role's bound_* settings, its "
        "expiry, and that the auth method trusts its signer (jwt_validation_pubkeys / jwks_url)",
        "kubernetes": "check SFJWT_VAULT_ROLE and that the role binds this service account and namespace",
        "aws": "check SFJWT_VAULT_ROLE binds this IAM principal (bound_iam_principal_arn) and the "
        "iam_server_id_header_value (SFJWT_VAULT_AWS_HEADER_VALUE)",
    }.get(method, "check the auth settings")
