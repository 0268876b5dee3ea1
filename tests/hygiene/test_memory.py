"""No private key material is left in a process's memory after a mint, measured from outside.

A child process mints a real token against the emulator (library call or the `sfjwt token` CLI path),
then waits; this process reads the child's memory through /proc/<pid>/mem and counts 32-byte runs of
the PEM body and the top 32 bytes of d and p in both byte orders. A positive control (a child that
keeps copies on purpose) proves the scan finds what is there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.hygiene.conftest import BackendCase, ScanKey, ScanResult

KINDS = ("pem_line", "pem_joined", "d_be", "d_le", "p_be", "p_le")


def _file_backend(key: ScanKey, request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    return f"file:{key.pem_path}", {}


# One entry per backend that fetches the PEM into the process. Remote signers (aws-kms:,
# vault-transit:) and the AWS Secrets Manager / Vault KV backends add theirs here once they land.
BACKENDS = [
    BackendCase("file", _file_backend),
]


def _report(case: str, mode: str, result: ScanResult) -> None:
    counts = ", ".join(f"{kind}={result.total(kind)}" for kind in KINDS)
    print(f"[hygiene] {case}/{mode}: {counts} ({result.bytes_scanned // (1024 * 1024)} MiB scanned)")


def test_positive_control_finds_every_needle_kind(
    scan_key: ScanKey, run_and_scan: Callable[..., ScanResult]
) -> None:
    """A child that keeps the PEM, the parsed key and d/p as bytes is caught on every needle kind."""
    result = run_and_scan("control", f"file:{scan_key.pem_path}")
    _report("file", "control", result)
    for kind in KINDS:
        assert result.total(kind) >= 1, f"the scan missed {kind}: it would pass vacuously"


@pytest.mark.parametrize("case", BACKENDS, ids=lambda c: c.name)
@pytest.mark.parametrize("mode", ["parse", "library", "cli"])
def test_no_key_material_left_after_a_mint(
    case: BackendCase,
    mode: str,
    scan_key: ScanKey,
    run_and_scan: Callable[..., ScanResult],
    request: pytest.FixtureRequest,
) -> None:
    key_ref, env = case.prepare(scan_key, request)
    result = run_and_scan(mode, key_ref, plugins=case.plugins, env=env, mints=0 if mode == "parse" else 1)
    _report(case.name, mode, result)
    if mode == "cli":
        assert "SF_ACCESS_TOKEN=" in result.stdout
    assert dict(result.hits) == dict.fromkeys(result.hits, 0)
