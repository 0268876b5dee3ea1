"""terraform/examples/aws planned, applied and destroyed against moto in its three modes, then the
documented next steps with the permissions the module grants, enforced by moto's IAM:

- the operator runs the command the example prints (`sfjwt keygen --store aws-sm:<arn>`, or
  `sfjwt cert --key aws-kms:<arn>` in KMS mode) holding only `operator_policy_json`;
- the Lambda handler (examples/lambda) runs with the function's environment as applied, holding only
  the role's inline policies, and gets a token from the Salesforce emulator; with the shared cache, a
  second cold start reuses the first one's token.

moto checks Secrets Manager, KMS and DynamoDB grants against resource "*" only and evaluates no
condition and no key policy: `tests.moto_iam.for_moto` first asserts that each applied statement names
only this deployment's resources, then widens it; conditions and key policies are held by
tests/test_terraform.py. So the Lambda runs as an IAM user carrying the widened copy of the role's
policies: a session of the role itself would be checked against the role's ARN-scoped originals.

Run by terraform/check.sh (`pytest terraform/tests`), not by the default `pytest`.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from tf_harness import MOTO_KEYS, REGION, REPO, Terraform, moto_env, working_copy

from sfjwt_vault.testing import SalesforceEmulator
from tests.moto_iam import IamUser, create_user, enforced, for_moto

HANDLER_DIR = REPO / "examples" / "lambda"
SFJWT = str(Path(sys.executable).with_name("sfjwt"))
USERNAME = "integration@acme.example"
MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "kms": {"enable_kms_signing": True},
    "shared-cache": {"enable_shared_cache": True, "token_cache_deletion_protection": False},
}


@dataclass
class Deployment:
    mode: str
    example: Path  # the working copy of examples/aws
    outputs: dict[str, Any]
    operator_name: str

    def output(self, name: str) -> Any:
        return self.outputs[name]["value"]


def aws_client(service: str, moto_url: str, user: IamUser | None = None) -> Any:
    keys = user.env() if user else MOTO_KEYS
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    )


def lambda_zip(path: Path) -> Path:
    """The handler alone: moto stores the package but never runs it (a later stage builds the real one)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(HANDLER_DIR / "handler.py", "handler.py")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def deployments(
    terraform: Terraform, moto_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Deployment]]:
    """All three modes planned and applied at once; destroyed at the end (a failed destroy fails the run)."""
    tmp = tmp_path_factory.mktemp("apply")
    package = lambda_zip(tmp / "sfjwt-lambda.zip")
    deployed: dict[str, Deployment] = {}
    for mode, settings in MODES.items():
        example = working_copy(tmp / mode / "terraform") / "examples" / "aws"
        operator = f"operator-{mode}"
        variables = {
            "region": REGION,
            "name": f"sfjwt-{mode}",
            "sf_consumer_key": f"3MVG9-{mode}",
            "sf_username": USERNAME,
            "lambda_package_file": str(package),
            "operator_arns": [f"arn:aws:iam::123456789012:user/{operator}"],
            **settings,
        }
        (example / "terraform.tfvars.json").write_text(json.dumps(variables))
        deployed[mode] = Deployment(mode, example, {}, operator)
    examples = [d.example for d in deployed.values()]
    try:
        terraform.run_parallel([(e, ("init", f"-plugin-dir={terraform.plugin_dir}")) for e in examples])
        terraform.run_parallel([(e, ("plan", "-out=tfplan")) for e in examples])
        terraform.run_parallel([(e, ("apply", "tfplan")) for e in examples])
        outputs = terraform.run_parallel([(e, ("output", "-json")) for e in examples])
        for deployment, output in zip(deployed.values(), outputs, strict=True):
            deployment.outputs = json.loads(output.stdout)
        yield deployed
    finally:
        # No refresh: everything was just applied, and the refresh would only re-read it.
        terraform.run_parallel([(e, ("destroy", "-auto-approve", "-refresh=false")) for e in examples])
        states = terraform.run_parallel([(e, ("state", "list")) for e in examples], check=False)
        for example, state in zip(examples, states, strict=True):
            assert state.stdout.split() == [], f"destroy left {state.stdout.split()} in {example}"


# --- the permissions under test, as moto-enforced IAM users -------------------------------------------


def operator(moto_url: str, deployment: Deployment, resources: set[str]) -> IamUser:
    """The operator, holding only the applied `operator_policy_json`."""
    policy = json.loads(deployment.output("operator_policy_json"))
    return create_user(moto_url, for_moto(policy, resources), name=deployment.operator_name)


def lambda_role(moto_url: str, deployment: Deployment, resources: set[str]) -> IamUser:
    """A user holding exactly the applied role's inline policies (the role the function runs as)."""
    iam = aws_client("iam", moto_url)
    role = deployment.output("lambda_role_arn").rsplit("/", 1)[1]
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        statements += (json.loads(document) if isinstance(document, str) else document)["Statement"]
    policy = {"Version": "2012-10-17", "Statement": statements}
    return create_user(moto_url, for_moto(policy, resources), name=f"lambda-{deployment.mode}")


def applied_resources(moto_url: str, deployment: Deployment) -> dict[str, str]:
    """The ARNs this deployment created, read back from moto (what the policies may name)."""
    function = aws_client("lambda", moto_url).get_function_configuration(
        FunctionName=deployment.output("function_name")
    )
    account = function["FunctionArn"].split(":")[4]
    found = {
        "log streams": f"arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{function['FunctionName']}:log-stream:*"
    }
    scheme, _, target = deployment.output("sfjwt_key").partition(":")
    if scheme == "aws-sm":
        found["secret"] = target
        found["secret key"] = aws_client("secretsmanager", moto_url).describe_secret(SecretId=target)["KmsKeyId"]
    else:
        found["signing key"] = target
    cache = deployment.output("token_cache")
    if cache != "local":
        table, _, options = cache.removeprefix("dynamodb:").partition("?")
        found["cache table"] = aws_client("dynamodb", moto_url).describe_table(TableName=table)["Table"]["TableArn"]
        found["cache key"] = dict(o.split("=", 1) for o in options.split("&"))["kms_key"]
    return found


# --- running the documented steps ------------------------------------------------------------------


def run_operator_command(deployment: Deployment, env: dict[str, str], cwd: Path) -> str:
    """The command the example prints, as printed (with this venv's `sfjwt`)."""
    argv = shlex.split(deployment.output("operator_command"))
    assert argv[0] == "sfjwt"
    result = subprocess.run([SFJWT, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    return result.stdout


def cold_start(variables: dict[str, str], env: dict[str, str], emulator: SalesforceEmulator) -> dict[str, Any]:
    """One invocation in a fresh process (a cold Lambda instance) with the function's own environment
    `variables`; only the token URL is redirected to the emulator."""
    code = "import json, handler; print(json.dumps(handler.handler({}, None)))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=HANDLER_DIR,
        env={**env, **variables, "SF_TOKEN_URL": emulator.token_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"the handler failed:\n{result.stdout}\n{result.stderr}"
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def denied(call: Any, **kwargs: Any) -> bool:
    """True if AWS (moto) refused the call for lack of permission."""
    try:
        call(**kwargs)
    except ClientError as error:
        # moto answers an XML AccessDenied even on JSON protocols, which botocore reads as code "403".
        return error.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and "not authorized" in str(error)
    return False


@pytest.mark.parametrize("mode", list(MODES))
def test_documented_next_steps_with_the_granted_permissions(
    deployments: dict[str, Deployment], moto_url: str, mode: str, tmp_path: Path
) -> None:
    deployment = deployments[mode]
    resources = applied_resources(moto_url, deployment)
    ops = operator(moto_url, deployment, set(resources.values()))
    role = lambda_role(moto_url, deployment, set(resources.values()))
    function = aws_client("lambda", moto_url).get_function_configuration(
        FunctionName=deployment.output("function_name")
    )
    variables = function["Environment"]["Variables"]
    assert deployment.output("sfjwt_key").startswith("aws-kms:" if mode == "kms" else "aws-sm:")
    assert (deployment.output("token_cache") != "local") == (mode == "shared-cache")

    with enforced(moto_url), SalesforceEmulator() as emulator:
        # 1. The operator's step, with the operator's permissions.
        printed = run_operator_command(deployment, moto_env(moto_url, tmp_path, ops.env()), tmp_path)
        if mode == "kms":
            assert (tmp_path / "salesforce-jwt.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        else:
            assert "Stored: first version" in printed
        # 2. Upload the certificate (register the app), then cold starts with the role's permissions.
        emulator.add_app((tmp_path / "salesforce-jwt.crt").read_bytes(), consumer_key=variables["SF_CONSUMER_KEY"])
        emulator.add_user(USERNAME)
        env = moto_env(moto_url, tmp_path, role.env())
        assert cold_start(variables, env, emulator)["status"] == 200
        assert emulator.tokens_issued == 1
        if mode == "shared-cache":
            # A second instance takes the session from the DynamoDB cache: no second login.
            assert cold_start(variables, env, emulator)["status"] == 200
            assert emulator.tokens_issued == 1
        # 3. And moto really enforced the policies: each principal is refused what it was not granted.
        key_or_secret = resources.get("secret") or resources["signing key"]
        if "secret" in resources:
            assert denied(aws_client("secretsmanager", moto_url, ops).get_secret_value, SecretId=key_or_secret)
            assert denied(
                aws_client("secretsmanager", moto_url, role).put_secret_value, SecretId=key_or_secret, SecretString="x"
            )
        else:
            assert denied(aws_client("kms", moto_url, ops).describe_key, KeyId=key_or_secret)
        assert denied(aws_client("secretsmanager", moto_url, role).list_secrets)
        assert denied(aws_client("kms", moto_url, role).list_keys)
