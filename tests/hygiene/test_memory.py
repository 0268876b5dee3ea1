"""No private key material is left in a process's memory after a mint, measured from outside.

A child process mints a real token against the emulator (library call or the `sfjwt token` CLI path),
then waits; this process reads the child's memory through /proc/<pid>/mem and counts 32-byte runs of
the PEM body and the top 32 bytes of d and p in both byte orders. A positive control (a child that
keeps copies on purpose) proves the scan finds what is there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.hygiene.conftest import MEASURED, BackendCase, ScanKey, ScanResult, Stores

KINDS = ("pem_line", "pem_joined", "d_be", "d_le", "p_be", "p_le")


def _file_backend(key: ScanKey, request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    return f"file:{key.pem_path}", {}


def _stored(name: str) -> Callable[[ScanKey, pytest.FixtureRequest], tuple[str, dict[str, str]]]:
    """The scan key as the `stores` fixture put it into a secret store or remote signer."""

    def prepare(key: ScanKey, request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
        stores: Stores = request.getfixturevalue("stores")
        return stores.refs[name], stores.env

    return prepare


AWS = "sfjwt_vault_aws:aws"
VAULT = "sfjwt_vault_hashicorp:vault"

# One entry per backend. Secret stores fetch the PEM into the process; the remote signers (aws-kms:,
# vault-transit:) hold an imported copy of the same key, so a mint the emulator accepts proves the
# remote key IS the scan key, and zero hits prove the child never held it.
BACKENDS = [
    BackendCase("file", _file_backend),
    BackendCase("aws-sm", _stored("aws-sm"), AWS, sdk_copies=True),
    BackendCase("aws-sm-json", _stored("aws-sm-json"), AWS, sdk_copies=True),
    BackendCase("vault-kv2", _stored("vault"), VAULT, sdk_copies=True),
    BackendCase("aws-kms", _stored("aws-kms"), AWS, remote=True),
    BackendCase("vault-transit", _stored("vault-transit"), VAULT, remote=True),
]


def _report(case: str, mode: str, result: ScanResult, record: Callable[[str, object], None] | None = None) -> None:
    counts = ", ".join(f"{kind}={result.total(kind)}" for kind in KINDS)
    line = f"[hygiene] {case}/{mode}: {counts} ({result.bytes_scanned // (1024 * 1024)} MiB scanned)"
    print(line)
    MEASURED.append(line)
    if record is not None:
        for kind in KINDS:
            record(f"hits_{kind}", result.total(kind))


def test_positive_control_finds_every_needle_kind(scan_key: ScanKey, run_and_scan: Callable[..., ScanResult]) -> None:
    """A child that keeps the PEM, the parsed key and d/p as bytes is caught on every needle kind."""
    result = run_and_scan("control", f"file:{scan_key.pem_path}")
    _report("file", "control", result)
    for kind in KINDS:
        assert result.total(kind) >= 1, f"the scan missed {kind}: it would pass vacuously"


# `parse` (fetch and parse only) means nothing for a remote signer, which fetches nothing: library + CLI.
RUNS = [
    (case, mode) for mode in ("parse", "library", "cli") for case in BACKENDS if not (case.remote and mode == "parse")
]


@pytest.mark.parametrize(("case", "mode"), RUNS, ids=[f"{mode}-{case.name}" for case, mode in RUNS])
def test_no_key_material_left_after_a_mint(
    case: BackendCase,
    mode: str,
    scan_key: ScanKey,
    run_and_scan: Callable[..., ScanResult],
    request: pytest.FixtureRequest,
    record_property: Callable[[str, object], None],
) -> None:
    """Zero hits for `file:` and the remote signers. For the secret stores the PEM runs left by the SDK
    are reported (terminal summary, junit properties); the parsed key (`d`, `p`) must be gone."""
    key_ref, env = case.prepare(scan_key, request)
    result = run_and_scan(mode, key_ref, plugins=case.plugins, env=env, mints=0 if mode == "parse" else 1)
    _report(case.name, mode, result, record_property)
    if mode == "cli":
        assert "SF_ACCESS_TOKEN=" in result.stdout
    if case.remote:
        # The mint was accepted by an emulator that trusts only the scan key: the remote key is the scan
        # key. Zero hits below and no SecretBuffer show this process never held any of it.
        assert result.secret_buffers == 0
    else:
        assert result.secret_buffers >= 1, "the child fetched no key: the scan would pass vacuously"
    if case.sdk_copies:
        key_kinds = [kind for kind in result.hits if kind.startswith(("d_", "p_"))]
        assert {kind: result.hits[kind] for kind in key_kinds} == dict.fromkeys(key_kinds, 0)
    else:
        assert dict(result.hits) == dict.fromkeys(result.hits, 0)
