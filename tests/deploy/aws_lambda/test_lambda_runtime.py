"""examples/lambda/handler.py from the built zip, under awslambdaric, driven through the Runtime API.

Each test starts one execution environment (`sandbox`): the loopback Runtime API, then
`python -S -m awslambdaric handler.handler` with the unzipped artifact as LAMBDA_TASK_ROOT. AWS is a
real moto_server (keys through `aws-sm:` and `aws-kms:`), Salesforce the emulator over TLS. Every
logger in the function runs at DEBUG (AWS_LAMBDA_LOG_LEVEL), and everything the runtime printed and
posted is searched for the key, the assertions and the access tokens.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from sfjwt_vault import Credentials, SfjwtError
from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.testing import make_test_keypair
from tests.deploy.lambda_function import Artifact, Sandbox, sandbox
from tests.deploy.recording import RecordingEmulator, secrets_seen

from .conftest import SKIP, USERNAME, function_env

OK = {"status": 200, "limits": 3}  # the handler's answer: the emulator's `limits` has three entries


@dataclass
class Deployed:
    """A key in AWS and the app whose certificate matches it."""

    ref: str
    consumer_key: str
    pem: bytes | None  # None for aws-kms: the key never leaves KMS


@pytest.fixture(params=["aws-sm", "aws-kms"])
def deployed(
    request: pytest.FixtureRequest, org: RecordingEmulator, sm: Any, kms: Any, aws_host: PluginHost
) -> Deployed:
    if request.param == "aws-sm":
        key, cert = make_test_keypair()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        name = f"sfjwt-lambda/{uuid.uuid4().hex[:12]}"
        sm.create_secret(Name=name, SecretString=pem.decode())
        return Deployed(f"aws-sm:{name}", org.add_app(cert).consumer_key, pem)
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ref = f"aws-kms:{key_id}"
    with open_signer(ref, aws_host) as signer:  # as `sfjwt cert --key aws-kms:...` makes it
        cert = certificate_pem(self_signed_certificate(signer, common_name="kms"))
    return Deployed(ref, org.add_app(cert).consumer_key, None)


@pytest.fixture
def start(
    artifact: Artifact, runtime_dir: Path, org: RecordingEmulator, moto_url: str, tmp_path: Path
) -> Iterator[Any]:
    """start(consumer_key, key, **env changes) -> a running sandbox; stopped after the test."""
    with contextlib.ExitStack() as stack:

        def _start(consumer_key: str, key: str, **changes: str | None) -> Sandbox:
            env = function_env(org, moto_url, consumer_key, key, tmp_path / "ca.pem")
            for name, value in changes.items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
            return stack.enter_context(sandbox(artifact.task_root, runtime_dir, tmp_path / "sandbox", env))

        yield _start


def test_init_logs_in_once_and_warm_invocations_reuse_it(
    start: Any, org: RecordingEmulator, deployed: Deployed
) -> None:
    box = start(deployed.consumer_key, deployed.ref)
    box.api.wait_ready(process=box.process)
    assert org.exchange_count == 1 and org.tokens_issued == 1  # the login happened in the init phase

    invocations = [box.api.invoke({"n": n}) for n in range(3)]

    assert [(i.outcome, i.payload) for i in invocations] == [("response", OK)] * 3
    assert org.exchange_count == 1  # three invocations, no further login
    assert org.api_requests == 3
    assert box.process.poll() is None  # one process served them all (its module-scope Credentials)
    assert ("POST", "/2018-06-01/runtime/init/error") not in box.api.requests
    output = box.output()
    assert "[DEBUG]" in output and "botocore" in output  # the search below reads every logger's DEBUG lines
    secrets_seen(org, deployed.pem).check("the runtime's output", output)


def test_expired_then_revoked_session_is_reminted_once(start: Any, org: RecordingEmulator, deployed: Deployed) -> None:
    box = start(deployed.consumer_key, deployed.ref)
    box.api.wait_ready(process=box.process)
    assert box.api.invoke({}).payload == OK
    assert org.exchange_count == 1

    org.clock_skew += SKIP  # the session sat unused longer than its lifetime: Salesforce ended it
    assert [box.api.invoke({}).payload for _ in range(2)] == [OK, OK]
    assert org.exchange_count == 2  # one re-mint on the 401, then the new token is reused

    org.expire_all_tokens()  # revoked (an admin, a password reset, ...)
    assert [box.api.invoke({}).payload for _ in range(2)] == [OK, OK]
    assert org.exchange_count == 3 and org.tokens_issued == 3
    secrets_seen(org, deployed.pem).check("the runtime's output", box.output())


def test_handler_error_reaches_error_endpoint_without_secrets(
    start: Any, org: RecordingEmulator, deployed: Deployed
) -> None:
    box = start(deployed.consumer_key, deployed.ref)
    box.api.wait_ready(process=box.process)
    assert box.api.invoke({}).payload == OK
    app = next(a for a in org.apps if a.consumer_key == deployed.consumer_key)
    good_certificate = app.certificate_pem
    app.certificate_pem = make_test_keypair()[1]  # someone uploaded another certificate
    org.expire_all_tokens()

    failed = box.api.invoke({})

    assert failed.outcome == "error"
    error = failed.payload
    assert error["errorType"] == "InvalidAssertionError"
    assert error["errorMessage"].startswith("Salesforce refused the token request: invalid_grant: invalid assertion")
    assert "\nhint: " in error["errorMessage"]
    assert error["requestId"] == failed.request_id
    assert any("handler.py" in frame for frame in error["stackTrace"])
    assert org.exchange_count == 2  # the re-mint was tried once: no retry of a refusal
    secrets = secrets_seen(org, deployed.pem)
    secrets.check("the posted error", failed.body.decode() + repr(failed.headers))
    secrets.check("the runtime's output", box.output())

    app.certificate_pem = good_certificate  # fixed: the same environment serves again
    assert box.api.invoke({}).payload == OK
    assert box.process.poll() is None


def expected_error(**settings: Any) -> SfjwtError:
    """What the library raises in this process for the same settings: the typed error to expect."""
    with pytest.raises(SfjwtError) as caught:
        Credentials.from_env(settings).get_token()
    return caught.value


def test_init_error_for_a_missing_setting(start: Any, org: RecordingEmulator) -> None:
    box = start("some-consumer-key", "aws-sm:whatever", SF_USERNAME=None)

    error = box.api.wait_init_error()

    expected = expected_error(SF_CONSUMER_KEY="some-consumer-key", SFJWT_KEY="aws-sm:whatever")
    assert expected.hint and type(expected).__name__ == "ConfigurationError"
    assert error.error_type == error.payload["errorType"] == type(expected).__name__
    assert error.payload["errorMessage"] == f"{expected.message}\nhint: {expected.hint}"
    assert box.wait_exit() != 0
    assert box.api.init_done_at is None  # never asked for an invocation
    assert org.exchange_count == 0


@pytest.mark.parametrize("missing", ["aws-sm:sfjwt-lambda/no-such-secret", "aws-kms:alias/no-such-key"])
def test_init_error_for_a_missing_key(
    start: Any, org: RecordingEmulator, aws_host: PluginHost, missing: str, tmp_path: Path
) -> None:
    _, cert = make_test_keypair()
    consumer_key = org.add_app(cert).consumer_key
    box = start(consumer_key, missing)

    error = box.api.wait_init_error()

    with pytest.raises(SfjwtError) as caught:  # the same mint in this process, against the same moto
        Credentials(
            consumer_key,
            USERNAME,
            missing,
            audience=org.audience,
            token_url=org.token_url,
            verify=str(tmp_path / "ca.pem"),
            plugin_host=aws_host,
        ).get_token()
    expected = caught.value
    assert expected.exit_code == 3 and expected.hint  # a key-backend error, with its fix
    assert error.error_type == error.payload["errorType"] == type(expected).__name__
    assert error.payload["errorMessage"] == f"{expected.message}\nhint: {expected.hint}"
    assert box.wait_exit() != 0
    assert org.exchange_count == 0  # nothing was sent to Salesforce


@pytest.mark.parametrize("deployed", ["aws-sm"], indirect=True)
def test_a_transient_failure_at_init_is_left_to_the_first_invocation(
    start: Any, org: RecordingEmulator, deployed: Deployed
) -> None:
    org.inject("503", times=4)  # every attempt of the init's login (the default policy makes 4)
    box = start(deployed.consumer_key, deployed.ref)
    box.api.wait_ready(process=box.process)  # the init still ended normally
    assert org.exchange_count == 4 and org.tokens_issued == 0
    assert "no Salesforce token during init" in box.output()

    assert box.api.invoke({}).payload == OK  # the first invocation logs in
    assert org.tokens_issued == 1
    secrets_seen(org, deployed.pem).check("the runtime's output", box.output())


@pytest.mark.parametrize("deployed", ["aws-sm"], indirect=True)
def test_under_snapstart_the_init_phase_does_not_log_in(start: Any, org: RecordingEmulator, deployed: Deployed) -> None:
    box = start(deployed.consumer_key, deployed.ref, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    box.api.wait_ready(process=box.process)
    assert ("GET", "/2018-06-01/runtime/restore/next") in box.api.requests  # the runtime took the SnapStart path
    assert org.exchange_count == 0  # no token in the snapshot
    assert box.api.invoke({}).payload == OK
    assert org.exchange_count == 1
