"""boto3 clients, created once per (service, region, endpoint) and shared across threads and warm
Lambda invocations. boto3 is imported here, on the first aws-* reference, never at `import sfjwt_vault`.

Clients are thread-safe once built; building them is not, hence the lock. botocore's retries are off
(one attempt): a retryable failure is raised at once (`errors.call`) and the core's retry policy is the
only one. The endpoint is left to botocore, which honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
natively; the cache key includes those variables so a changed endpoint gets its own client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from .errors import configured_profile

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0

_ENDPOINT_ENV = {
    "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "kms": "AWS_ENDPOINT_URL_KMS",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
}

_clients: dict[tuple[str, str, str | None], Any] = {}
_lock = threading.Lock()


def endpoint_for(service: str) -> str | None:
    return os.environ.get(_ENDPOINT_ENV[service]) or os.environ.get("AWS_ENDPOINT_URL") or None


def get_client(service: str, region: str, setup: Callable[[Any], None] | None = None) -> Any:
    """The shared client for this service, region and endpoint; `setup` runs once on a new client."""
    key = (service, region, endpoint_for(service))
    client = _clients.get(key)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(key)
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                retries={"total_max_attempts": 1},
                user_agent_extra="sfjwt-vault",
            )
            with configured_profile():
                client = boto3.session.Session().client(service, region_name=region, config=config)
            if setup is not None:
                setup(client)
            _clients[key] = client
    return client


def forget_client(service: str, region: str) -> None:
    """Drop a client (after NoCredentialsError), so the next call resolves credentials again."""
    with _lock:
        _clients.pop((service, region, endpoint_for(service)), None)


def reset_clients() -> None:
    """Forget every client (tests; after changing credentials in-process)."""
    with _lock:
        _clients.clear()
