"""Error mapping, and one call per AWS operation. AccessDenied comes from a real moto server with IAM
enforcement (INITIAL_NO_AUTH_ACTION_COUNT); throttling and server errors come from a local endpoint that
answers them over real HTTP; DecryptionFailure, which neither can produce, is built as a real botocore
ClientError with the response shape AWS sends.

The plugin retries nothing and botocore's retries are off: a retryable failure is raised at once as a
`TransientError`, and the core's retry policy (one for the whole project) retries it within its deadline.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from sfjwt_vault_aws.errors import AwsThrottledError, Operation, call, map_aws_error

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


def test_call_makes_one_attempt_and_raises_a_retryable_error() -> None:
    calls: list[int] = []

    def throttled() -> None:
        calls.append(1)
        raise client_error("ThrottlingException", "Rate exceeded")

    with pytest.raises(AwsThrottledError) as info:
        call(OP, throttled)
    assert len(calls) == 1
    assert isinstance(info.value, TransientError) and info.value.retryable
    assert "attempt" not in info.value.message  # the plugin does not retry, so it must not say it did
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_permanent_error_is_not_retryable() -> None:
    calls: list[int] = []

    def missing() -> None:
        calls.append(1)
        raise client_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.", 404)

    with pytest.raises(KeyBackendError, match="not found") as info:
        call(OP, missing)
    assert len(calls) == 1 and not info.value.retryable


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


# --- one HTTP request per operation, against an endpoint that throttles or fails ------------------


class _FailingAws:
    """A loopback AWS endpoint that answers every request with one JSON-protocol error, and counts them."""

    def __init__(self, status: int, error_type: str) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(self.headers.get("X-Amz-Target", ""))
                body = json.dumps({"__type": error_type, "message": "Rate exceeded"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-ErrorType", error_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (400, "ThrottlingException", AwsThrottledError),
        (429, "TooManyRequestsException", AwsThrottledError),
        (500, "InternalServiceError", TransientError),
        (503, "ServiceUnavailableException", TransientError),
    ],
)
@pytest.mark.parametrize("ref", ["aws-sm:prod/sf", "aws-kms:alias/sf"])
def test_one_request_per_call_and_a_retryable_error(
    ref: str,
    status: int,
    error_type: str,
    expected: type[TransientError],
    aws_host: PluginHost,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """botocore's retries are off and the plugin has none: one request, then a retryable error."""
    endpoint = _FailingAws(status, error_type)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.url)
        with pytest.raises(expected) as info:
            with open_signer(ref, aws_host) as signer:
                signer.sign(b"x")
    finally:
        endpoint.close()
    assert len(endpoint.requests) == 1, endpoint.requests
    assert info.value.retryable and "attempt" not in info.value.message
