"""The deployment zip from examples/lambda/build.py: what is in it, what is not, what runs from it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from tests.deploy.lambda_function import BUILD_SCRIPT, ROOT, Artifact, lambda_environment


def build_module() -> ModuleType:
    """examples/lambda/build.py as a module (it is a script, not part of a package)."""
    if "lambda_build" not in sys.modules:
        spec = importlib.util.spec_from_file_location("lambda_build", BUILD_SCRIPT)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["lambda_build"]


def test_the_zip_fits_lambda_and_leaves_the_sdk_to_the_runtime(artifact: Artifact) -> None:
    report = artifact.report
    assert report["fits"] and 0 < report["zipped_bytes"] <= 50 * 1024 * 1024
    assert report["unzipped_bytes"] <= 250 * 1024 * 1024
    names = {d.split("-")[0].lower() for d in report["distributions"]}
    assert {"sfjwt_vault", "cryptography", "cffi", "pyjwt", "httpx", "pluggy", "urllib3"} <= names
    assert not names & {"boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "six"}
    with zipfile.ZipFile(artifact.zip_path) as archive:
        infos = archive.infolist()
    assert "handler.py" in {i.filename for i in infos}  # the handler at the root: `handler.handler`
    assert not any(i.filename.startswith(("bin/", "tests/", "examples/")) for i in infos)
    # Lambda runs the code as another user: every file must be world-readable.
    assert all((i.external_attr >> 16) & 0o444 == 0o444 for i in infos)
    assert len({i.date_time for i in infos}) == 1  # fixed dates: the same sources give the same zip


def test_bytecode_is_checked_by_hash_not_by_timestamp(artifact: Artifact) -> None:
    pycs = list((artifact.task_root / "sfjwt_vault" / "__pycache__").glob("*.pyc"))
    assert artifact.report["precompiled"] and pycs
    for pyc in pycs:
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01  # hash-based, source not checked: valid whatever dates the unzip gives


def test_the_runtime_imports_the_artifact_not_the_checkout(
    artifact: Artifact, runtime_dir: Path, tmp_path: Path
) -> None:
    env = lambda_environment("127.0.0.1:9", artifact.task_root, runtime_dir, tmp_path, {})
    code = (
        "import json, sys, sfjwt_vault, sfjwt_vault_aws, urllib3, boto3, awslambdaric;"
        "from importlib.metadata import entry_points;"
        "print(json.dumps({'path': sys.path, 'files': {m.__name__: m.__file__ for m in "
        "(sfjwt_vault, sfjwt_vault_aws, urllib3, boto3, awslambdaric)},"
        "'plugins': sorted(e.name for e in entry_points(group='sfjwt_vault'))}))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, cwd=artifact.task_root, capture_output=True, text=True, check=True
    )
    seen = json.loads(result.stdout)
    task, runtime = str(artifact.task_root), str(runtime_dir)
    assert all(seen["files"][m].startswith(task) for m in ("sfjwt_vault", "sfjwt_vault_aws", "urllib3"))
    assert seen["files"]["boto3"].startswith(runtime) and seen["files"]["awslambdaric"].startswith(runtime)
    assert not any(p.startswith(str(ROOT)) for p in seen["path"])
    assert "aws" in seen["plugins"]  # the entry point comes from the artifact's own metadata


def test_platform_tags_follow_the_runtimes_glibc() -> None:
    build = build_module()
    al2023 = build.platforms("3.12", "arm64")
    assert al2023[0] == "manylinux_2_34_aarch64" and al2023[-1] == "manylinux2014_aarch64"
    al2 = build.platforms("3.11", "x86_64")
    assert al2[0] == "manylinux_2_26_x86_64" and "manylinux_2_28_x86_64" not in al2  # AL2 has glibc 2.26


def test_a_layer_puts_the_packages_under_python(artifact: Artifact, tmp_path: Path) -> None:
    build = build_module()
    layer = tmp_path / "layer.zip"
    build.pack(artifact.task_root, layer, prefix="python/")
    with zipfile.ZipFile(layer) as archive:
        names = archive.namelist()
    assert names and all(n.startswith("python/") for n in names)
    assert "python/sfjwt_vault/__init__.py" in names


def test_the_extra_requirements_are_read_from_the_wheel(tmp_path: Path) -> None:
    build = build_module()
    wheel = tmp_path / "sfjwt_vault-0-py3-none-any.whl"
    metadata = "Metadata-Version: 2.1\nName: sfjwt-vault\nVersion: 0\nRequires-Dist: httpx>=0.28\n"
    metadata += 'Requires-Dist: boto3>=1.34; extra == "aws"\nRequires-Dist: urllib3>=2.6.3; extra == "aws"\n'
    metadata += 'Requires-Dist: hvac>=2.1; extra == "vault"\n'
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("sfjwt_vault-0.dist-info/METADATA", metadata)
    assert build.extra_requirements(wheel, "aws") == ["boto3>=1.34", "urllib3>=2.6.3"]
    assert [
        r for r in build.extra_requirements(wheel, "aws") if build.requirement_name(r) not in build.RUNTIME_PROVIDED
    ] == ["urllib3>=2.6.3"]
