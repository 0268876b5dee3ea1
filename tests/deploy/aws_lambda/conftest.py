"""The Lambda example under AWS's runtime client: the built artifact, moto for AWS, the emulator over TLS.

The artifact is built once per process with examples/lambda/build.py for this interpreter's Python
and architecture (pip fetches the manylinux wheels; its cache makes later builds quick). AWS is the
session's moto_server (tests/aws/conftest.py: reused from SFJWT_TEST_MOTO_URL in CI), and this
process's own AWS settings point at it too, for arranging secrets and keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sfjwt_vault.testing.emulator import SalesforceEmulator
from tests.aws.conftest import REGION, aws_env, aws_host, kms, moto_url, sm  # noqa: F401 - fixtures
from tests.deploy.lambda_function import Artifact, shared_artifact, shared_runtime_dir
from tests.deploy.recording import RecordingEmulator

USERNAME = "integration@acme.com"
SESSION_LIFETIME = 60.0  # the emulator's: a clock step of SKIP seconds ends an unused session
SKIP = 90.0  # < 180 s, the assertion's lifetime, so a fresh assertion is still accepted after the step


@pytest.fixture(scope="session")
def artifact() -> Artifact:
    return shared_artifact()


@pytest.fixture(scope="session")
def runtime_dir() -> Path:
    return shared_runtime_dir()


@pytest.fixture
def org(tmp_path: Path) -> Iterator[RecordingEmulator]:
    """A TLS emulator with short sessions and the integration user; its CA in tmp_path/ca.pem."""
    with RecordingEmulator(tls=True, session_lifetime=SESSION_LIFETIME) as emulator:
        emulator.add_user(USERNAME)
        assert emulator.ca_pem is not None
        (tmp_path / "ca.pem").write_bytes(emulator.ca_pem)
        yield emulator


def function_env(org: SalesforceEmulator, moto: str, consumer_key: str, key: str, ca_file: Path) -> dict[str, str]:
    """The function's configuration (as the Terraform module sets it) and Lambda's AWS settings, at moto."""
    return {
        "SF_CONSUMER_KEY": consumer_key,
        "SF_USERNAME": USERNAME,
        "SFJWT_KEY": key,
        "SF_AUDIENCE": org.audience,
        "SF_TOKEN_URL": org.token_url,
        "SFJWT_CA_BUNDLE": str(ca_file),
        "SFJWT_PLUGINS": "aws",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": moto,  # the one setting Lambda does not make: AWS is moto here
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        # Every logger at DEBUG (botocore's and httpx's included): the runtime prints what they log.
        "AWS_LAMBDA_LOG_LEVEL": "DEBUG",
    }
