"""Run the Lambda example the way Lambda's managed Python runtime does, on this machine.

- The function code is the deployment zip from examples/lambda/build.py, unzipped into a folder that
  plays /var/task (LAMBDA_TASK_ROOT, first on sys.path).
- The runtime's own folder (/var/runtime) is composed from this environment's installed
  distributions: awslambdaric (AWS's runtime interface client, with its native Runtime API client)
  and what the managed runtime ships next to it, boto3 and botocore with their dependencies.
- The interpreter runs with -S: nothing from this environment's site-packages, so nothing from the
  checkout, is importable; only the artifact and the runtime folder are.
- `python -S -m awslambdaric handler.handler`, as AWS's container images start it, with the
  environment Lambda sets (AWS_LAMBDA_RUNTIME_API, LAMBDA_TASK_ROOT, _HANDLER, AWS_REGION, ...).

Used by tests/deploy/ and by the benchmark (bench/lambda_init.py).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.runtime_api import LambdaRuntimeAPI

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "examples" / "lambda" / "build.py"
# What Lambda's managed Python runtime carries in its own folder (awslambdaric and the AWS SDK).
RUNTIME_DISTRIBUTIONS = (
    "awslambdaric",
    "simplejson",
    "snapshot-restore-py",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
ARCH = {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")


@dataclass
class Artifact:
    zip_path: Path
    task_root: Path  # the zip, unzipped: what Lambda puts in /var/task
    report: dict[str, Any]


def build_artifact(workdir: Path) -> Artifact:
    """Run the documented build for this interpreter's Python and architecture, then unzip it."""
    zip_path = workdir / "function.zip"
    command = [sys.executable, str(BUILD_SCRIPT), "--python", PYTHON, "--arch", ARCH, "--out", str(zip_path), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"build.py failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    task_root = workdir / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task_root)
    return Artifact(zip_path, task_root, json.loads(result.stdout))


@functools.lru_cache(maxsize=1)
def shared_artifact() -> Artifact:
    """One build per process (the tests and the benchmark's smoke run share it), removed at exit."""
    workdir = Path(tempfile.mkdtemp(prefix="sfjwt-lambda-artifact-"))
    atexit.register(shutil.rmtree, workdir, True)
    return build_artifact(workdir)


@functools.lru_cache(maxsize=1)
def shared_runtime_dir() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="sfjwt-lambda-runtime-"))
    atexit.register(shutil.rmtree, workdir, True)
    return compose_runtime_dir(workdir / "var-runtime")


def compose_runtime_dir(folder: Path) -> Path:
    """A stand-in for /var/runtime: links to the runtime client and the SDK installed here."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_DISTRIBUTIONS:
        dist = importlib.metadata.distribution(name)
        for top in sorted({f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}):
            link = folder / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))).resolve())
    return folder


def lambda_environment(
    api_address: str, task_root: Path, runtime_dir: Path, home: Path, function: dict[str, str]
) -> dict[str, str]:
    """The variables Lambda sets for a python runtime, plus the function's own (`function`)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(task_root), str(runtime_dir)]),
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "AWS_LAMBDA_RUNTIME_API": api_address,
        "_HANDLER": "handler.handler",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{PYTHON}",
        "AWS_LAMBDA_FUNCTION_NAME": "sfjwt-example",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/sfjwt-example",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
        **function,
    }


def start_runtime(env: dict[str, str], log: Path, handler: str = "handler.handler") -> subprocess.Popen[bytes]:
    """`python -S -m awslambdaric <handler>` in the task root, its stdout and stderr into `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-S", "-m", "awslambdaric", handler],
            cwd=env["LAMBDA_TASK_ROOT"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_runtime(process: subprocess.Popen[bytes]) -> None:
    """End the sandbox (Lambda freezes and later kills it; nothing runs after the last response)."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


@dataclass
class Sandbox:
    """One execution environment: the Runtime API, the runtime process and everything it printed."""

    api: LambdaRuntimeAPI
    process: subprocess.Popen[bytes]
    log: Path
    started_at: float  # time.perf_counter() just before the runtime was spawned

    @property
    def init_ms(self) -> float:
        """Spawn to the first /next: the init phase, interpreter and runtime client included."""
        if self.api.init_done_at is None:
            raise RuntimeError("the init phase has not ended")
        return (self.api.init_done_at - self.started_at) * 1000

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)


@contextlib.contextmanager
def sandbox(
    task_root: Path, runtime_dir: Path, workdir: Path, function_env: dict[str, str], *, timeout_s: float = 15.0
) -> Iterator[Sandbox]:
    """Start the runtime against a fresh Runtime API; kill it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    with LambdaRuntimeAPI(timeout_s=timeout_s) as api:
        env = lambda_environment(api.address, task_root, runtime_dir, workdir, function_env)
        log = workdir / "runtime.log"
        started_at = time.perf_counter()
        process = start_runtime(env, log)
        try:
            yield Sandbox(api, process, log, started_at)
        finally:
            stop_runtime(process)


def main(argv: list[str] | None = None) -> int:
    """Run a built zip locally the way the tests do: `python -m tests.deploy.lambda_function --zip ...`.

    The function's settings are this shell's SF_*, SFJWT_* and AWS_* variables."""
    import argparse

    parser = argparse.ArgumentParser(description="Run the Lambda zip under awslambdaric on a loopback Runtime API.")
    parser.add_argument("--zip", type=Path, required=True, help="the zip from examples/lambda/build.py")
    parser.add_argument("--invocations", type=int, default=3, help="how many times to invoke it (default 3)")
    parser.add_argument("--event", default="{}", help="the event, as JSON (default {})")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sfjwt-lambda-local-"))
    try:
        task_root = workdir / "task"
        with zipfile.ZipFile(args.zip) as archive:
            archive.extractall(task_root)
        function = {k: v for k, v in os.environ.items() if k.startswith(("SF_", "SFJWT_", "AWS_"))}
        with sandbox(task_root, compose_runtime_dir(workdir / "runtime"), workdir / "sandbox", function) as box:
            try:
                box.api.wait_ready(process=box.process)
                print(f"init: {box.init_ms:.0f} ms")
                for _ in range(args.invocations):
                    started = time.perf_counter()
                    invocation = box.api.invoke(json.loads(args.event))
                    took = (time.perf_counter() - started) * 1000
                    print(f"{invocation.outcome} in {took:.1f} ms: {invocation.body.decode()}")
            finally:
                sys.stdout.write(box.output())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
