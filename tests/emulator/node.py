"""Installing npm packages for the real-client tests: node and npm must be there (a missing one fails
the test with the reason, it never skips). Each set of packages is installed once per machine into a
cache folder (`SFJWT_TEST_NPM_CACHE`, default ~/.cache/sfjwt-tests/npm), named by what it holds; a
file lock lets test runs that start together (CI runs one per Python version at once) install it once."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

NPM_INSTALL_TIMEOUT = 600  # seconds; a cold npm cache on a slow link


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"`{tool}` is not on PATH: the real-client tests run jsforce (and the Salesforce CLI) under node; "
            "install Node.js 18 or later with npm (e.g. `apt-get install nodejs npm`) and rerun",
            pytrace=False,
        )
    return path


def installed(*packages: str, overrides: dict[str, str] | None = None) -> Path:
    """node_modules holding `packages` (exact specs, pinned transitive `overrides`), from the cache or
    installed into it now."""
    root = Path(os.environ.get("SFJWT_TEST_NPM_CACHE") or Path.home() / ".cache" / "sfjwt-tests" / "npm")
    spec = json.dumps({"packages": sorted(packages), "overrides": overrides or {}}, sort_keys=True)
    folder = root / hashlib.sha256(spec.encode()).hexdigest()[:16]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = folder / ".complete"
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a half-finished install from an interrupted run
            npm_install(folder, *packages, overrides=overrides)
            done.write_text(spec + "\n")
    return folder / "node_modules"


def npm_install(folder: Path, *packages: str, overrides: dict[str, str] | None = None) -> Path:
    """`npm install` the packages into `folder` from the configured registry; returns node_modules.
    `overrides` pins transitive dependencies (npm's "overrides")."""
    require("node")
    npm = require("npm")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"private": True, "overrides": overrides or {}}) + "\n")
    command = [npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error", *packages]
    try:
        done = subprocess.run(
            command,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=NPM_INSTALL_TIMEOUT,
            env={**os.environ, "npm_config_update_notifier": "false"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`npm install {' '.join(packages)}` took over {NPM_INSTALL_TIMEOUT} s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"`npm install {' '.join(packages)}` failed (exit {done.returncode}); is the npm registry reachable?\n"
            f"{done.stderr[-2000:]}",
            pytrace=False,
        )
    return folder / "node_modules"
