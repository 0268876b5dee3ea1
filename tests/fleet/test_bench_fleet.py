"""The fleet benchmark case runs end to end (small): counts, never durations."""

from __future__ import annotations

from bench import cases
from bench.harness import started_org


def test_fleet_burst_case_counts_exchanges() -> None:
    with started_org() as org:
        result = cases.fleet_burst(org, 2, 4, 1)
    rows = result["rows"]
    assert rows["no shared cache"]["exchanges"] == [2]  # one login per process
    assert rows["DynamoDB + KMS (moto)"]["exchanges"] == [1]  # one login for the fleet
    assert rows["Vault KV + Transit (OpenBao dev)"]["exchanges"] == [1]
