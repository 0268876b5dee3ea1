"""Packaging as users get it: the sdist and wheel built once per session from the files a clone has,
and fresh virtual environments with the wheel installed (not editable): no extra, [aws], [vault].

Each environment is made without pip (`venv --without-pip`) and filled by this interpreter's pip
(`pip --python`), with pip's cache and without byte-compiling: a few seconds each once the cache is warm.
Commands run from a scratch folder with a clean environment, so nothing from the repository is imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.aws.conftest import moto_url  # the same moto and OpenBao servers as the backend tests
from tests.vault.conftest import bao

__all__ = ["bao", "moto_url"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Venv:
    """A fresh environment with the wheel installed; `run` calls its `sfjwt` (or python, with "-c")."""

    path: Path
    scratch: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_", "AWS_", "VAULT_", "PYTHON"))}
        command = (
            [str(self.path / "bin" / "python"), *args]
            if args[:1] == ("-c",)
            else [str(self.path / "bin" / "sfjwt"), *args]
        )
        return subprocess.run(
            command,
            cwd=self.scratch,
            env={**base, "HOME": str(self.scratch), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _source_files() -> list[str]:
    """What a clone of this tree holds: tracked files plus new ones not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return [name for name in listed.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """`python -m build` (sdist, then the wheel from the sdist) on a copy of the tree: the repository
    itself gets no build/ or egg-info from it."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return Dist(sdist, wheel)


@pytest.fixture(scope="session")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Venv]:
    """installed("") / installed("aws") / installed("vault"): one fresh environment per extra, per session."""
    made: dict[str, Venv] = {}

    def make(extra: str) -> Venv:
        if extra not in made:
            root = tmp_path_factory.mktemp(f"venv-{extra or 'plain'}")
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")], check=True, timeout=120)
            requirement = f"{dist.wheel}[{extra}]" if extra else str(dist.wheel)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "--python",
                    str(root / "env" / "bin" / "python"),
                    "install",
                    "--quiet",
                    "--no-compile",
                    "--disable-pip-version-check",
                    requirement,
                ],
                check=True,
                capture_output=True,
                timeout=600,
            )
            scratch = root / "scratch"
            scratch.mkdir()
            made[extra] = Venv(root / "env", scratch)
        return made[extra]

    return make
