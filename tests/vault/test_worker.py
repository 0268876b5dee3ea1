"""The Vault worker example against a real OpenBao dev server and the Salesforce emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sfjwt_vault.testing.emulator import SalesforceEmulator

from .conftest import USERNAME, Bao, new_key
from .test_kv import put_v2
from .test_transit import WORKTREE, plugin_path

WORKER = WORKTREE / "examples" / "vault_worker" / "worker.py"


def run_worker(bao: Bao, emu: SalesforceEmulator, consumer_key: str, key: str, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    (tmp_path / "secret-id").write_text(bao.secret_id())
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "PYTHONPATH": plugin_path(tmp_path),
        "SFJWT_PLUGINS": "vault",
        "VAULT_ADDR": bao.addr,
        "SFJWT_VAULT_AUTH": "approle",
        "SFJWT_VAULT_ROLE_ID": bao.role_id,
        "SFJWT_VAULT_SECRET_ID_FILE": str(tmp_path / "secret-id"),
        "SF_CONSUMER_KEY": consumer_key,
        "SF_USERNAME": USERNAME,
        "SF_TOKEN_URL": emu.token_url,
        "SF_AUDIENCE": emu.audience,
        "SFJWT_KEY": key,
    }
    return subprocess.run([sys.executable, str(WORKER), *args], env=env, capture_output=True, text=True, timeout=120)


def test_worker_calls_salesforce_and_renews_vault_token(bao: Bao, emulator: SalesforceEmulator, tmp_path: Path) -> None:
    pem, cert = new_key()
    put_v2(bao, f"{bao.prefix}/worker", private_key=pem.decode())
    app = emulator.add_app(cert)
    # 5 calls 1 s apart outlast 2/3 of the role's 3 s token TTL: the worker must renew to keep going.
    result = run_worker(
        bao,
        emulator,
        app.consumer_key,
        f"vault:secret/{bao.prefix}/worker",
        tmp_path,
        "--iterations",
        "5",
        "--interval",
        "1",
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("call ")]
    assert len(lines) == 5 and all("HTTP 200" in line for line in lines)
    assert "renewals=0" not in lines[-1]
    assert emulator.tokens_issued == 1  # one Credentials object: the access token is reused
    assert emulator.rest_calls == 5
    assert pem.decode().splitlines()[1] not in result.stdout + result.stderr


def test_worker_stops_on_permission_error(bao: Bao, emulator: SalesforceEmulator, tmp_path: Path) -> None:
    _, cert = new_key()
    app = emulator.add_app(cert)
    result = run_worker(bao, emulator, app.consumer_key, "vault:secret/not-allowed/key", tmp_path, "--iterations", "3")
    assert result.returncode == 3
    assert 'path "secret/data/not-allowed/key"' in result.stderr
    assert "call 2" not in result.stdout
