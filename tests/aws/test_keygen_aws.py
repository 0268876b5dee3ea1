"""`sfjwt keygen --store aws-sm:` against moto: create, then rotate (AWSCURRENT / AWSPREVIOUS), and the
operator's permissions (DescribeSecret, PutSecretValue, no read) enforced by moto's IAM."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sfjwt_vault_aws import clients

from sfjwt_vault import KeyBackendError, KeyRef, SecretBuffer, keygen
from sfjwt_vault.certs import same_public_key
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost
from tests.moto_iam import IamUser, create_user, enforced


def run_keygen(host: PluginHost, ref: str, cert_out: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = keygen.run(
        store=ref,
        bits=2048,
        common_name="acme-int",
        days=30,
        force=False,
        cert_out=str(cert_out),
        host=host,
        stdout=out,
        stderr=err,
    )
    assert code == 0
    return out.getvalue(), err.getvalue()


def public_key(host: PluginHost, ref: str) -> Any:
    with open_signer(ref, host) as signer:
        return signer.public_key()


def test_keygen_creates_then_rotates_the_secret(
    aws_host: PluginHost, sm: Any, secret_name: str, tmp_path: Path
) -> None:
    ref = f"aws-sm:{secret_name}"
    first_out, _ = run_keygen(aws_host, ref, tmp_path / "first.crt")
    assert "created secret" in first_out and "Rotation" not in first_out
    first_cert = x509.load_pem_x509_certificate((tmp_path / "first.crt").read_bytes())
    assert same_public_key(public_key(aws_host, ref), first_cert.public_key())

    second_out, _ = run_keygen(aws_host, ref, tmp_path / "second.crt")
    assert "staged AWSCURRENT; previous version staged AWSPREVIOUS" in second_out
    assert "Rotation" in second_out and "SFJWT_ROTATION_FALLBACK=1" in second_out
    second_cert = x509.load_pem_x509_certificate((tmp_path / "second.crt").read_bytes())
    assert same_public_key(public_key(aws_host, ref), second_cert.public_key())
    previous = public_key(aws_host, f"{ref}?version_stage=AWSPREVIOUS")
    assert same_public_key(previous, first_cert.public_key())
    for text in (first_out, second_out):
        assert "PRIVATE KEY" not in text
    stored = sm.get_secret_value(SecretId=secret_name, VersionStage="AWSCURRENT")["SecretString"]
    assert stored.splitlines()[1] not in first_out + second_out


# --- the operator's permissions (terraform/modules/aws `operator_policy_json`), enforced by moto ---------

# What the module grants operators on the secret. Resource "*" because moto checks Secrets Manager
# grants against "*" only; the module scopes it to the one secret (tests/test_terraform.py, and
# terraform/tests with the applied policy).
OPERATOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:PutSecretValue"],
            "Resource": "*",
        }
    ],
}


@pytest.fixture
def as_operator(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> IamUser:
    """From here on the plugin signs as a user holding only the operator policy (checked inside `enforced`)."""
    user = create_user(aws_env, OPERATOR_POLICY)
    for name, value in user.env().items():
        monkeypatch.setenv(name, value)
    clients.reset_clients()
    return user


def empty_secret(sm: Any, name: str) -> str:
    """A secret with no version at all, as Terraform creates it (no aws_secretsmanager_secret_version)."""
    return str(sm.create_secret(Name=name)["ARN"])


def test_operator_stores_into_the_empty_secret_by_arn(
    aws_host: PluginHost, aws_env: str, sm: Any, secret_name: str, tmp_path: Path, as_operator: IamUser
) -> None:
    # Regression (issue 22): the store read the secret first (GetSecretValue: denied to operators, and
    # there is no version yet), then called CreateSecret(Name=<ARN>) on a secret that exists.
    arn = empty_secret(sm, secret_name)
    with enforced(aws_env):
        out, _ = run_keygen(aws_host, f"aws-sm:{arn}", tmp_path / "op.crt")
    assert "Stored: first version" in out and "previous version" not in out
    assert list(sm.describe_secret(SecretId=arn)["VersionIdsToStages"].values()) == [["AWSCURRENT"]]
    cert = x509.load_pem_x509_certificate((tmp_path / "op.crt").read_bytes())
    assert same_public_key(public_key(aws_host, f"aws-sm:{arn}"), cert.public_key())
    assert [s["ARN"] for s in sm.list_secrets()["SecretList"]].count(arn) == 1  # nothing created by that name


def test_operator_rotates_without_reading(
    aws_host: PluginHost, aws_env: str, sm: Any, secret_name: str, pem: bytes, tmp_path: Path, as_operator: IamUser
) -> None:
    arn = sm.create_secret(Name=secret_name, SecretString=pem.decode())["ARN"]
    with enforced(aws_env):
        out, _ = run_keygen(aws_host, f"aws-sm:{arn}", tmp_path / "new.crt")
    assert "staged AWSCURRENT; previous version staged AWSPREVIOUS" in out
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == pem.decode()


def test_field_into_an_empty_secret_needs_no_read(
    aws_host: PluginHost, aws_env: str, sm: Any, secret_name: str, pem: bytes, as_operator: IamUser
) -> None:
    arn = empty_secret(sm, secret_name)
    with enforced(aws_env), SecretBuffer.from_buffer(pem) as buffer:
        message = aws_host.store_key(KeyRef.parse(f"aws-sm:{arn}#jwt_key"), buffer, overwrite=False)
    assert message.startswith("first version")
    value = json.loads(sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
    assert value == {"jwt_key": pem.decode()}


def test_a_field_merge_reads_and_names_the_missing_permission(
    aws_host: PluginHost, aws_env: str, sm: Any, secret_name: str, pem: bytes, as_operator: IamUser
) -> None:
    # Writing #field into a secret that has a value reads it first (to keep its other fields): an
    # operator without GetSecretValue gets a clear refusal, and overwrite skips the read.
    arn = sm.create_secret(Name=secret_name, SecretString=json.dumps({"jwt_key": "old"}))["ARN"]
    ref = KeyRef.parse(f"aws-sm:{arn}#jwt_key")
    with enforced(aws_env):
        with SecretBuffer.from_buffer(pem) as buffer, pytest.raises(KeyBackendError, match="access denied") as info:
            aws_host.store_key(ref, buffer, overwrite=False)
        with SecretBuffer.from_buffer(pem) as buffer:
            replaced = aws_host.store_key(ref, buffer, overwrite=True)
    assert "secretsmanager:GetSecretValue" in str(info.value.hint)
    assert "previous version staged AWSPREVIOUS" in replaced


def test_an_arn_never_names_a_new_secret(aws_host: PluginHost, sm: Any, pem: bytes) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:sfjwt-test/absent-AbCdEf"
    with SecretBuffer.from_buffer(pem) as buffer, pytest.raises(KeyBackendError, match="an ARN cannot name") as info:
        aws_host.store_key(KeyRef.parse(f"aws-sm:{missing}"), buffer, overwrite=False)
    assert "PRIVATE KEY" not in str(info.value)
    assert missing not in [s["Name"] for s in sm.list_secrets()["SecretList"]]
