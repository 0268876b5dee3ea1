"""The Terraform harness of terraform/tests: the terraform binary, its provider mirror and an
environment isolated from the user's configuration, and working copies of terraform/."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

TERRAFORM_DIR = Path(__file__).resolve().parents[1]
REPO = TERRAFORM_DIR.parent
MIN_VERSION = (1, 5)
REGION = "eu-west-1"
# (what ran, seconds): printed at the end of the run (conftest), for the CI log.
TIMINGS: list[tuple[str, float]] = []
MOTO_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # moto's unchecked key


def moto_env(moto_url: str, home: Path, keys: Mapping[str, str]) -> dict[str, str]:
    """PATH, a HOME of our own, and what points boto3 and the AWS provider at moto with `keys`, never at
    the user's AWS profile or an instance's metadata."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,  # as Lambda sets it
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **keys,
    }


@dataclass(frozen=True)
class Terraform:
    """The terraform binary, the provider mirror it installs from, and an environment isolated from
    the user's CLI configuration and AWS profile (the AWS endpoint is moto's)."""

    binary: str
    plugin_dir: str
    env: dict[str, str]

    def command(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def run(self, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        (result,) = self.run_parallel([(cwd, args)], check=check)
        return result

    def run_parallel(
        self, jobs: Sequence[tuple[Path, Sequence[str]]], *, check: bool = True
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run one terraform command per working directory at once (they mostly wait on the provider)."""
        began = time.monotonic()
        started = [
            (
                cwd,
                args,
                subprocess.Popen(
                    self.command(*args),
                    cwd=cwd,
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for cwd, args in jobs
        ]
        results = []
        for _cwd, _args, process in started:
            out, err = process.communicate(timeout=600)
            results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
        TIMINGS.append((f"terraform {jobs[0][1][0]} x{len(jobs)}", time.monotonic() - began))
        failed = [(cwd, args, r) for (cwd, args, _), r in zip(started, results, strict=True) if r.returncode]
        if check and failed:
            pytest.fail(
                "\n\n".join(
                    f"terraform {' '.join(args)} in {cwd} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
                    for cwd, args, r in failed
                ),
                pytrace=False,
            )
        return results


def working_copy(destination: Path) -> Path:
    """A copy of terraform/ (modules and examples), so init, lock files and state stay out of the tree."""
    shutil.copytree(
        TERRAFORM_DIR,
        destination,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "tests", "__pycache__"),
    )
    return destination
