"""Every AWS call the plugin makes, made once, with its SDK logging quiet and its failure typed.

`call` is the one way the plugin talks to AWS. It runs the call inside `quiet_sdk_logs()`, because
botocore logs request parameters and response bodies at DEBUG and ours carry secrets on success (a KMS
`Sign` request and its signature, a `Decrypt` answer, a secret's value). It makes the call once:
botocore's own retries are off for our clients (see `clients`), and a throttled, failing (5xx) or
unreachable service raises a retryable `TransientError` that the core's retry policy retries within
its overall deadline. Messages name the reference, the IAM action and the resource, never a secret
value (AWS error messages do not carry secret values either; they are scrubbed anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple, TypeVar

from sfjwt_vault.plugin_api import (
    ConfigurationError,
    KeyBackendError,
    SfjwtError,
    TransientError,
    quiet_sdk_logs,
    scrub,
)

T = TypeVar("T")

_THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
}
_SERVER_SIDE = {
    "InternalServiceError",
    "InternalServiceErrorException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KMSInternalException",
    "KeyUnavailableException",
    "DependencyTimeoutException",
}
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "403"}
_NOT_FOUND = {"ResourceNotFoundException", "NotFoundException"}
_BAD_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
}


class AwsThrottledError(TransientError):
    """AWS throttled the call (retryable: the core's retry policy backs off and tries again)."""


class AwsNotFoundError(KeyBackendError):
    """The secret, the secret version or the KMS key does not exist (where we looked)."""


class Operation(NamedTuple):
    """What we were doing, for messages: the reference, the IAM action and the resource it applies to."""

    ref: str
    action: str  # e.g. "secretsmanager:GetSecretValue"
    resource: str  # the secret name/ARN or KMS key id
    region: str
    extra_permissions: str = ""  # e.g. "kms:Decrypt on the secret's customer managed key"


def call(operation: Operation, fn: Callable[[], T], *, on_no_credentials: Callable[[], None] | None = None) -> T:
    """Make one AWS call with the SDK's logging quiet on this thread; raise its failure as our error."""
    try:
        with quiet_sdk_logs():
            return fn()
    except Exception as exc:  # botocore's exceptions are mapped below, others re-raised
        error = map_aws_error(exc, operation)
        if error is None:
            raise
        if on_no_credentials is not None and type(exc).__name__ in {"NoCredentialsError", "PartialCredentialsError"}:
            on_no_credentials()
        raise error from None


@contextmanager
def configured_profile() -> Iterator[None]:
    """Around botocore's session set-up: AWS_PROFILE naming no profile is a configuration error."""
    try:
        yield
    except Exception as exc:
        if type(exc).__name__ != "ProfileNotFound":
            raise
        profile = getattr(exc, "kwargs", {}).get("profile", "")
        raise ConfigurationError(
            f"the AWS profile {profile!r} (AWS_PROFILE) is not in the AWS config or credentials file",
            hint="list the profiles with `aws configure list-profiles`, fix AWS_PROFILE, or unset it",
        ) from None


def map_aws_error(exc: BaseException, op: Operation) -> SfjwtError | None:
    """A botocore exception as our error, or None if it is not an AWS failure we know how to explain."""
    name = type(exc).__name__
    where = f"{op.action} on {op.resource} in {op.region} (key reference {op.ref!r})"
    if name in {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
        return KeyBackendError(
            f"no usable AWS credentials for {where}",
            hint="boto3 looks in this order: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN), "
            "AWS_PROFILE and ~/.aws, web identity (EKS/IRSA), the ECS/Lambda role, the EC2 instance "
            "profile. On Lambda give the function an execution role; locally run `aws sso login` or "
            "set AWS_PROFILE",
        )
    if name in {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}:
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        return TransientError(
            f"could not reach the AWS endpoint {endpoint or ''} for {where}".replace("  ", " "),
            hint="check network access to the service (VPC endpoint or NAT for Lambda in a VPC), the "
            "region, and AWS_ENDPOINT_URL if set",
        )
    response = getattr(exc, "response", None)
    if name != "ClientError" and not isinstance(response, dict):
        return None
    if not isinstance(response, dict):
        return None
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    message = scrub(str(error.get("Message") or ""))
    if "<ErrorResponse" in message or "<Error>" in message:  # an XML error body under a JSON protocol
        message = ""
    detail = f": {message}" if message else ""
    return _for_code(code, status, where, detail, op)


def _for_code(code: str, status: int, where: str, detail: str, op: Operation) -> SfjwtError:
    if code in _THROTTLING or status == 429:
        return AwsThrottledError(
            f"AWS throttled {where} ({code or status})",
            hint="lower the request rate: reuse one Credentials object per process and cache tokens; "
            "raise the service quota if this is steady load",
        )
    if code in _SERVER_SIDE or status >= 500:
        return TransientError(f"AWS failed {where} with a server-side error ({code or status})", hint="retry later")
    if code in _ACCESS_DENIED or status == 403:
        extra = f", and {op.extra_permissions}" if op.extra_permissions else ""
        return KeyBackendError(
            f"access denied: {where}{detail}",
            hint=f"allow {op.action} on {op.resource}{extra} in the IAM policy of the role or user "
            "running this (`aws sts get-caller-identity` shows which one), and check the resource "
            "policy and any SCP or permission boundary",
        )
    if code in _BAD_CREDENTIALS:
        return KeyBackendError(
            f"AWS rejected the credentials for {where} ({code})",
            hint="the access key is unknown, expired or its secret is wrong: refresh the session "
            "(`aws sso login`), or check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN",
        )
    if code in _NOT_FOUND:
        return AwsNotFoundError(
            f"not found: {where}{detail}",
            hint="check the name or ARN, the region and the account; a version_stage or version_id "
            "option must name an existing version",
        )
    if code == "DecryptionFailure":
        return KeyBackendError(
            f"Secrets Manager could not decrypt the secret for {where}{detail}",
            hint="the secret's KMS key is disabled, pending deletion, or the caller lacks kms:Decrypt on "
            "it (a customer managed key needs kms:Decrypt for this role in its key policy)",
        )
    if code == "InvalidRequestException":
        return KeyBackendError(
            f"AWS refused {where}{detail}",
            hint="a secret scheduled for deletion cannot be read: `aws secretsmanager restore-secret --secret-id NAME`",
        )
    if code in {"DisabledException", "KMSInvalidStateException"}:
        return KeyBackendError(
            f"the KMS key is disabled or pending deletion: {where}{detail}",
            hint="enable it (`aws kms enable-key`) or cancel its deletion",
        )
    if code == "InvalidKeyUsageException":
        return KeyBackendError(
            f"the KMS key cannot sign: {where}{detail}",
            hint="create an asymmetric key with KeySpec RSA_2048 (or larger) and KeyUsage SIGN_VERIFY",
        )
    return KeyBackendError(f"AWS error {code or status} for {where}{detail}")
