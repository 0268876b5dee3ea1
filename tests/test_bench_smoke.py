"""The benchmark runs end to end with minimal iterations: structure and counts, never durations."""

from __future__ import annotations

import json

from bench import run


def test_benchmark_smoke_run() -> None:
    results = run.run_all("smoke", progress=False)
    json.dumps(results)  # what bench/run.py writes must serialize

    mint = results["cold_mint"]
    assert mint["tokens_issued"] == mint["expected_tokens"]  # every contender really logged in
    assert set(mint["stats"]) >= {run.FLOOR, run.LIB, run.SSF}
    assert results["thread_burst"]["callers"] == 64
    assert results["thread_burst"]["exchanges"] == [1]
    assert results["task_burst"]["callers"] == 1000
    assert results["task_burst"]["exchanges"] == [1]

    cold = results["cold_start"]
    assert cold["imports_boto3_or_hvac"] is False
    assert cold["first_token_exchanges"] == 1  # the fresh interpreter really got a token
    assert "import sfjwt_vault" in cold["scenarios"]
    assert any("pending" in row for row in cold["scenarios"].values())  # aws/vault rows listed, not hidden

    assert "file" in results["key_latency"]["overhead_ms"]
    names = {t["target"] for t in results["targets"]}
    assert any(name.startswith("(1)") for name in names) and any(name.startswith("(5)") for name in names)
    report = run.markdown(results)
    assert "| target | measured | met |" in report
