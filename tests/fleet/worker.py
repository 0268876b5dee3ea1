"""One fleet instance for the multi-process tests and the benchmark: N threads ask for a token at once.

    python -m tests.fleet.worker '<json settings>'

Settings: cache (a SFJWT_TOKEN_CACHE reference or "local"), token_url, audience, consumer_key, username,
key, threads, start_at (epoch seconds: every process starts its burst then, after its imports), verify.
Prints one JSON line: {"fingerprints": [...], "errors": [...], "burst_ms": float}. Fingerprints are
SHA-256 prefixes: the token itself is never printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import sfjwt_vault_aws
import sfjwt_vault_file
import sfjwt_vault_hashicorp

from sfjwt_vault import Credentials
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.plugins import PluginHost


def instance_credentials(settings: dict[str, Any]) -> Credentials:
    """This instance's Credentials: its own cache and plugin host, the fleet's shared cache (resolved
    now, with its SDK clients, so the burst measures the tokens and not the set-up)."""
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file")
    host.register(sfjwt_vault_aws, "aws")
    host.register(sfjwt_vault_hashicorp, "vault")
    cache = settings["cache"]
    creds = Credentials(
        settings["consumer_key"],
        settings["username"],
        settings["key"],
        audience=settings["audience"],
        token_url=settings["token_url"],
        verify=settings.get("verify", True),
        cache=TokenCache(),
        shared_cache=None if cache == "local" else cache,
        plugin_host=host,
    )
    creds._shared_tokens()
    return creds


def main(settings: dict[str, Any]) -> dict[str, Any]:
    creds = instance_credentials(settings)
    fingerprints: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(int(settings["threads"]))

    def ask() -> None:
        barrier.wait()
        try:
            token = creds.get_token()
            with lock:
                fingerprints.append(hashlib.sha256(token.access_token.encode()).hexdigest()[:16])
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            with lock:
                errors.append(type(exc).__name__)

    time.sleep(max(0.0, float(settings.get("start_at", 0)) - time.time()))
    started = time.perf_counter()
    threads = [threading.Thread(target=ask) for _ in range(int(settings["threads"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"fingerprints": fingerprints, "errors": errors, "burst_ms": (time.perf_counter() - started) * 1000}


ROOT = Path(__file__).resolve().parents[2]


def run_fleet(
    settings: dict[str, Any],
    processes: int,
    *,
    lead_time: float = 4.0,
    env: dict[str, str] | None = None,
    module: str = "tests.fleet.worker",
) -> tuple[list[dict[str, Any]], float]:
    """Start `processes` workers (`module`: this one, or another taking the same JSON argument; this
    checkout on their path, `env` or the caller's environment), let them all start at the same moment,
    and return their reports and the fleet's burst wall time (the slowest worker's `burst_ms`, if any)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")])
    start_at = time.time() + lead_time
    argument = json.dumps({**settings, "start_at": start_at})
    children = [
        subprocess.Popen(  # nosec B603 - this interpreter, our own module
            [sys.executable, "-m", module, argument],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    reports = []
    for child in children:
        out, err = child.communicate(timeout=180)
        if child.returncode != 0:
            raise RuntimeError(f"fleet worker exited with {child.returncode}: {err[-2000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports, max(float(r.get("burst_ms", 0.0)) for r in reports)


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
