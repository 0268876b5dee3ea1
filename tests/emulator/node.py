"""Installing npm packages for a test run: node and npm must be there (a missing one fails the test
with the reason, it never skips), each package is installed once per session into a temporary folder."""

from __future__ import annotations

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
