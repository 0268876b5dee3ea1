"""Error mapping and the bounded retry. AccessDenied comes from a real moto server with IAM enforcement
(INITIAL_NO_AUTH_ACTION_COUNT); throttling and DecryptionFailure, which moto cannot produce, are built
as real botocore ClientError instances with the response shape AWS sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from sfjwt_vault_aws.errors import ATTEMPTS, MAX_DELAY, AwsThrottledError, Operation, call_with_retry, map_aws_error

from sfjwt_vault import KeyBackendError, KeyRef, TransientError
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost

from .conftest import REGION, start_moto, stop

OP = Operation(
    ref="aws-sm:prod/sf",
    action="secretsmanager:GetSecretValue",
    resource="prod/sf",
    region="eu-west-1",
    extra_permissions="kms:Decrypt on the secret's KMS key if it is a customer managed key",
)


def client_error(code: str, message: str, status: int = 400, operation: str = "GetSecretValue") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {"x-amzn-errortype": code}},
        },
        operation,
    )


def test_access_denied_shape_names_action_resource_and_kms() -> None:
    exc = client_error(
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/app/x is not authorized to perform: "
        "secretsmanager:GetSecretValue on resource: prod/sf because no identity-based policy allows it",
    )
    error = map_aws_error(exc, OP)
    assert isinstance(error, KeyBackendError) and not error.retryable
    assert "access denied" in error.message and "prod/sf" in error.message
    assert "secretsmanager:GetSecretValue" in (error.hint or "") and "kms:Decrypt" in (error.hint or "")


def test_decryption_failure() -> None:
    error = map_aws_error(
        client_error(
            "DecryptionFailure", "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
        ),
        OP,
    )
    assert isinstance(error, KeyBackendError) and "kms:Decrypt" in (error.hint or "")


def test_throttling_retried_with_bounded_jittered_backoff_then_succeeds() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise client_error("ThrottlingException", "Rate exceeded")
        return "ok"

    assert call_with_retry(OP, flaky, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2
    assert all(0 <= s <= MAX_DELAY for s in sleeps)


def test_throttling_gives_up_as_transient_error() -> None:
    calls: list[int] = []

    def throttled() -> None:
        calls.append(1)
        raise client_error("ThrottlingException", "Rate exceeded")

    with pytest.raises(AwsThrottledError) as info:
        call_with_retry(OP, throttled, sleep=lambda _s: None)
    assert isinstance(info.value, TransientError) and info.value.retryable
    assert len(calls) == ATTEMPTS
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_not_retried_when_not_transient() -> None:
    calls: list[int] = []

    def missing() -> None:
        calls.append(1)
        raise client_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.", 404)

    with pytest.raises(KeyBackendError, match="not found"):
        call_with_retry(OP, missing, sleep=lambda _s: None)
    assert len(calls) == 1


def test_server_errors_and_unreachable_are_transient() -> None:
    assert isinstance(map_aws_error(client_error("InternalServiceError", "x", 500), OP), TransientError)
    unreachable = map_aws_error(
        EndpointConnectionError(endpoint_url="https://secretsmanager.eu-west-1.amazonaws.com/"), OP
    )
    assert isinstance(unreachable, TransientError) and "VPC endpoint" in (unreachable.hint or "")
    no_creds = map_aws_error(NoCredentialsError(), OP)
    assert isinstance(no_creds, KeyBackendError) and "AWS_PROFILE" in (no_creds.hint or "")
    assert map_aws_error(ValueError("not AWS"), OP) is None


def test_kms_wrong_state_and_usage() -> None:
    kms_op = Operation("aws-kms:alias/x", "kms:Sign", "alias/x", "us-east-1")
    disabled = map_aws_error(client_error("KMSInvalidStateException", "pending deletion", 400, "Sign"), kms_op)
    usage = map_aws_error(client_error("InvalidKeyUsageException", "usage", 400, "Sign"), kms_op)
    assert disabled is not None and "enable-key" in (disabled.hint or "")
    assert usage is not None and "SIGN_VERIFY" in (usage.hint or "")


# --- real AccessDenied from moto's IAM enforcement ------------------------------------------------


@pytest.fixture(scope="module")
def iam_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto server that enforces IAM after the first 4 actions: user + access key + secret + KMS key."""
    url, process = start_moto(tmp_path_factory.mktemp("iam-moto"), {"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    try:
        root: dict[str, Any] = {
            "region_name": REGION,
            "endpoint_url": url,
            "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "aws_secret_access_key": "root",
        }
        iam = boto3.client("iam", **root)
        iam.create_user(UserName="app")
        key = iam.create_access_key(UserName="app")["AccessKey"]
        boto3.client("secretsmanager", **root).create_secret(Name="locked/sf", SecretString="unused")
        key_id = boto3.client("kms", **root).create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
            "KeyId"
        ]
        yield {"url": url, "access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"], "kms_key": key_id}
    finally:
        stop(process)


@pytest.fixture
def as_app_user(iam_moto: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", iam_moto["url"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", iam_moto["access_key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", iam_moto["secret_key"])
    return iam_moto


def test_access_denied_from_moto_iam(aws_host: PluginHost, as_app_user: dict[str, str]) -> None:
    with pytest.raises(KeyBackendError) as info:
        with aws_host.fetch_key(KeyRef.parse("aws-sm:locked/sf")):
            pass
    assert "access denied" in info.value.message
    assert "secretsmanager:GetSecretValue on locked/sf" in (info.value.hint or "")
    assert "kms:Decrypt" in (info.value.hint or "")


def test_kms_access_denied_from_moto_iam(aws_host: PluginHost, as_app_user: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(KeyBackendError) as info:
        with open_signer(f"aws-kms:{as_app_user['kms_key']}", aws_host) as signer:
            signer.sign(b"x")
    assert "access denied" in info.value.message
    assert "kms:GetPublicKey" in (info.value.hint or "")
