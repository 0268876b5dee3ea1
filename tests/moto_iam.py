"""moto's IAM enforcement, for tests that prove a policy allows the calls our code makes (and no more).

A moto server checks IAM identity policies once authentication is switched on (`enforced`): every
request must then be signed with the access key of an IAM user created in moto, and the user's policies
must allow the action. Limits, which the callers must cover with static checks instead:

- Secrets Manager, KMS and DynamoDB requests are checked against `Resource: "*"` only, so a statement
  scoped to an ARN never matches. `for_moto` widens a policy's resources to `*`, after checking that
  every statement names only the resources the test expects: the scoping is asserted there, the actions
  by moto.
- Conditions (`kms:ViaService`, `kms:SigningAlgorithm`, ...) are not evaluated, nor are KMS key
  policies, nor the KMS calls Secrets Manager makes on the caller's behalf.

Switch enforcement on only around the calls under test: setup and teardown use the unchecked
`testing` key, which moto refuses while enforcement is on.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IamUser:
    """An IAM user in moto and its access key."""

    name: str
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        """The environment variables that make boto3 (and the sfjwt CLI) act as this user."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


def create_user(moto_url: str, policy: dict[str, Any], *, region: str = "us-east-1", name: str = "") -> IamUser:
    """A user whose only permissions are `policy` (inline). Call with enforcement off."""
    import boto3

    iam = boto3.client(
        "iam",
        region_name=region,
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = name or f"sfjwt-test-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="under-test", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return IamUser(name, key["AccessKeyId"], key["SecretAccessKey"])


@contextmanager
def enforced(moto_url: str) -> Iterator[None]:
    """Every request inside the block is authenticated and authorized; outside, none is."""
    _reset_auth(moto_url, "0")
    try:
        yield
    finally:
        _reset_auth(moto_url, "inf")


def for_moto(policy: dict[str, Any], resources: Iterable[str]) -> dict[str, Any]:
    """`policy` with every Resource widened to "*", after asserting each names only `resources`."""
    allowed = set(resources)
    statements = _as_list(policy.get("Statement"))
    assert statements, f"the policy grants nothing: {policy}"
    widened = []
    for statement in statements:
        named = _as_list(statement["Resource"])
        assert set(named) <= allowed, f"statement {statement.get('Sid')!r} names {named}, expected only {allowed}"
        widened.append({**statement, "Resource": "*"})
    return {**policy, "Statement": widened}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _reset_auth(moto_url: str, initial_no_auth_count: str) -> None:
    # text/plain: with a form content type moto's Flask front end would swallow the body.
    request = urllib.request.Request(  # noqa: S310 - the local moto server
        f"{moto_url}/moto-api/reset-auth",
        data=initial_no_auth_count.encode(),
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local moto server
        response.read()
