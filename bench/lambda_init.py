"""The Lambda example's init phase and a warm invocation, under AWS's runtime client (issue 19).

The function runs from the zip examples/lambda/build.py makes, as `python -S -m awslambdaric
handler.handler` against the loopback Runtime API (tests/deploy/lambda_function.py, the same
harness the tests use). Per key backend:

- **init**: from spawning the runtime to its first `/next`: the interpreter, the runtime client, the
  handler's imports, `Credentials.from_env()` and the login the handler makes in its init phase;
- **warm**: one invocation on a warm environment, measured from the caller's side of the Runtime API
  (queue the event, the handler's REST call with the cached token, the posted response).

A handler that does nothing gives the runtime client's own floor for both, in the same run; the
backends and the floor are interleaved run by run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.keys import open_signer
from tests.deploy.lambda_function import Sandbox, sandbox, shared_artifact, shared_runtime_dir

from .harness import Org, summarize
from .servers import Backends

FLOOR = "bare handler (runtime client floor)"
ROWS = (FLOOR, "file:", "aws-sm: (moto)", "aws-kms: (moto)")
# per size: (fresh environments per row, warm invocations per environment)
SIZES = {"full": (12, 50), "quick": (3, 20), "smoke": (1, 2)}
BARE_HANDLER = "def handler(event, context):\n    return {'status': 200}\n"


def _function_envs(org: Org, backends: Backends) -> dict[str, dict[str, str] | None]:
    """Each row's function settings (None: the bare handler, no settings)."""
    from bench.cases import all_host

    with open_signer(backends.kms_ref, all_host()) as signer:
        kms_app = org.emulator.add_app(certificate_pem(self_signed_certificate(signer)))
    common = {
        "SF_USERNAME": org.username,
        "SF_AUDIENCE": org.emulator.audience,
        "SF_TOKEN_URL": org.emulator.token_url,
        "SFJWT_CA_BUNDLE": str(org.ca_path),
        "AWS_REGION": backends.aws_env["AWS_DEFAULT_REGION"],
        **backends.aws_env,
    }
    return {
        FLOOR: None,
        "file:": {
            **common,
            "SF_CONSUMER_KEY": org.consumer_key,
            "SFJWT_KEY": f"file:{org.key_path}",
            "SFJWT_PLUGINS": "file",
        },
        "aws-sm: (moto)": {
            **common,
            "SF_CONSUMER_KEY": org.consumer_key,
            "SFJWT_KEY": backends.sm_ref,
            "SFJWT_PLUGINS": "aws",
        },
        "aws-kms: (moto)": {
            **common,
            "SF_CONSUMER_KEY": kms_app.consumer_key,
            "SFJWT_KEY": backends.kms_ref,
            "SFJWT_PLUGINS": "aws",
        },
    }


def _one_environment(task_root: Path, workdir: Path, env: dict[str, str], warm: int) -> tuple[float, list[float]]:
    box: Sandbox
    with sandbox(task_root, shared_runtime_dir(), workdir, env) as box:
        box.api.wait_ready(process=box.process)
        init = box.init_ms
        first = box.api.invoke({})  # opens the REST connection: not a warm call
        if first.outcome != "response" or first.payload.get("status") != 200:
            raise RuntimeError(f"the function failed: {first.body[:500]!r}\n{box.output()[-2000:]}")
        samples = []
        for _ in range(warm):
            started = time.perf_counter()
            box.api.invoke({})
            samples.append((time.perf_counter() - started) * 1000)
    return init, samples


def lambda_init(org: Org, size: str, backends: Backends) -> dict[str, Any]:
    runs, warm = SIZES[size]
    artifact = shared_artifact()
    bare_root = org.workdir / "lambda-bare"
    bare_root.mkdir(exist_ok=True)
    (bare_root / "handler.py").write_text(BARE_HANDLER)
    envs = _function_envs(org, backends)
    init: dict[str, list[float]] = {row: [] for row in ROWS}
    warm_ms: dict[str, list[float]] = {row: [] for row in ROWS}
    before = org.emulator.tokens_issued
    for run in range(runs):
        for row in ROWS:
            env = envs[row]
            root = bare_root if env is None else artifact.task_root
            workdir = org.workdir / "lambda-runs" / f"{run}-{ROWS.index(row)}"
            ms, samples = _one_environment(root, workdir, env or {}, warm)
            init[row].append(ms)
            warm_ms[row] += samples
    issued = org.emulator.tokens_issued - before
    stats_init = {row: summarize(values) for row, values in init.items()}
    stats_warm = {row: summarize(values) for row, values in warm_ms.items()}
    return {
        "unit": "ms",
        "runs": runs,
        "warm_calls": warm,
        "artifact": {k: artifact.report[k] for k in ("python", "arch", "zipped_bytes", "unzipped_bytes", "fits")},
        "init_ms": stats_init,
        "warm_ms": stats_warm,
        "init_over_floor_ms": {row: stats_init[row]["median"] - stats_init[FLOOR]["median"] for row in ROWS[1:]},
        "warm_over_floor_ms": {row: stats_warm[row]["median"] - stats_warm[FLOOR]["median"] for row in ROWS[1:]},
        "tokens_issued": issued,
        "expected_tokens": runs * (len(ROWS) - 1),  # one login per environment, in its init phase
    }


def markdown(r: dict[str, Any]) -> list[str]:
    mb = 1024 * 1024
    a = r["artifact"]
    lines = [
        "",
        f"### 8. Lambda: init phase and a warm invocation under awslambdaric ({r['runs']} environments per row, "
        f"{r['warm_calls']} warm calls each; zip {a['zipped_bytes'] / mb:.1f} MB, "
        f"{a['unzipped_bytes'] / mb:.1f} MB unzipped, python{a['python']} {a['arch']})",
        "",
        "| function | init ms median | p10 – p90 | over the floor | warm ms median | p10 – p90 | over the floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, s in r["init_ms"].items():
        w = r["warm_ms"][row]
        over_init = f"{r['init_over_floor_ms'][row]:.0f}" if row in r["init_over_floor_ms"] else ""
        over_warm = f"{r['warm_over_floor_ms'][row]:.2f}" if row in r["warm_over_floor_ms"] else ""
        lines.append(
            f"| {row} | {s['median']:.0f} | {s['p10']:.0f} – {s['p90']:.0f} | {over_init} | "
            f"{w['median']:.2f} | {w['p10']:.2f} – {w['p90']:.2f} | {over_warm} |"
        )
    lines.append(f"\nLogins: {r['tokens_issued']} for {r['expected_tokens']} environments (one each, in init).")
    return lines
