"""The benchmark runs end to end with minimal iterations: structure and counts, never durations."""

from __future__ import annotations

import json

from bench import cases, lambda_init, run


def test_benchmark_smoke_run() -> None:
    results = run.run_all("smoke", progress=False)
    json.dumps(results)  # what bench/run.py writes must serialize

    mint = results["cold_mint"]
    assert mint["tokens_issued"] == mint["expected_tokens"]  # every contender really logged in
    assert set(mint["stats"]) >= {run.FLOOR, run.LIB, run.SSF, cases.READING_FLOOR, cases.NEW_OBJECT}
    assert mint["remint_to_reading_floor"] > 0 and mint["new_object_to_reused"] > 0
    assert results["construction"]["calls"] > 0
    assert results["thread_burst"]["callers"] == 64
    assert results["thread_burst"]["exchanges"] == [1]
    assert results["task_burst"]["callers"] == 1000
    assert results["task_burst"]["exchanges"] == [1]

    cold = results["cold_start"]
    assert cold["imports_boto3_or_hvac"] is False
    assert cold["first_token_exchanges"] == 4  # file, the hand-written script, aws-sm and vault each got a token
    assert cold["first_token_to_script"] > 0
    assert "import sfjwt_vault" in cold["scenarios"]
    assert not any("pending" in row for row in cold["scenarios"].values())
    assert cold["scenarios"][cases.FIRST_AWS]["boto3"] and cold["scenarios"][cases.FIRST_VAULT]["hvac"]
    assert set(cold["backend_import_increment_ms"]) == {"aws", "vault"}

    key = results["key_latency"]
    assert set(key["overhead_ms"]) == {"file", "aws-sm (moto)", "vault KV v2 (OpenBao)", *cases.remote_names()}
    assert key["pending"] == []
    remote = results["remote_login"]
    assert remote["tokens_issued"] == remote["expected_tokens"]  # every remote-signed login really worked
    assert set(remote["overhead_ms"]) == set(cases.remote_names())
    lam = results["lambda_init"]  # the Lambda example under awslambdaric: one login per environment, in init
    assert lam["tokens_issued"] == lam["expected_tokens"] and set(lam["init_ms"]) == set(lambda_init.ROWS)
    names = {t["target"] for t in results["targets"]}
    assert any(name.startswith("(1)") for name in names) and any(name.startswith("(5)") for name in names)
    report = run.markdown(results)
    assert "| target | measured | met |" in report
