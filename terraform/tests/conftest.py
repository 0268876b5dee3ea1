"""Fixtures for the Terraform apply tests that terraform/check.sh runs: terraform and its provider
mirror, and a moto server.

Nothing here is skipped: without terraform or the mirror these tests fail, saying what is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from tf_harness import MIN_VERSION, MOTO_KEYS, TERRAFORM_DIR, TIMINGS, Terraform, moto_env

from tests.servers import start_moto, stop


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, process = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> Terraform:
    binary = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if not binary:
        pytest.fail(
            "terraform is not on PATH (nor set in $TERRAFORM): these checks need Terraform >= 1.5", pytrace=False
        )
    version = subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"Terraform v(\d+)\.(\d+)", version)
    if not found or (int(found.group(1)), int(found.group(2))) < MIN_VERSION:
        pytest.fail(f"Terraform >= 1.5 is needed, found: {version.splitlines()[:1]}", pytrace=False)
    mirror = subprocess.run(
        [str(TERRAFORM_DIR / "provider-mirror.sh"), binary], capture_output=True, text=True, check=False
    )
    if mirror.returncode:
        pytest.fail(mirror.stderr.strip(), pytrace=False)
    home = tmp_path_factory.mktemp("terraform-home")
    (home / "terraformrc").write_text("")  # no user CLI configuration (provider_installation, credentials)
    env = {
        **moto_env(moto_url, home, MOTO_KEYS),
        "TF_CLI_CONFIG_FILE": str(home / "terraformrc"),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_CLI_ARGS": "-no-color",
        "CHECKPOINT_DISABLE": "1",
    }
    return Terraform(binary, mirror.stdout.strip(), env)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the time went: the terraform commands, summed by kind (parallel runs count once)."""
    totals: dict[str, float] = {}
    for what, seconds in TIMINGS:
        totals[what] = totals.get(what, 0.0) + seconds
    if totals:
        terminalreporter.write_line(
            "terraform time: " + ", ".join(f"{what} {seconds:.0f} s" for what, seconds in totals.items())
        )
