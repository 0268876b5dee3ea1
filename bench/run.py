"""Run the sfjwt-vault benchmarks: `python bench/run.py [--quick]`.

Prints a Markdown report and writes the raw figures to bench/results/<timestamp>.json. Not a test: no
assertion on durations; the targets are checked and reported, misses included.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    # Run as a script: this checkout (and its plugins) first, before any installed sfjwt_vault.
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    __package__ = "bench"

from bench import cases, lambda_init  # noqa: E402
from bench.harness import started_org  # noqa: E402
from bench.servers import started_backends  # noqa: E402

# iterations per size: (cold-mint rounds, warm calls, burst repeats, cold-start runs, key rounds)
SIZES = {
    "full": (300, 100_000, 10, 16, 300),
    "quick": (15, 20_000, 2, 2, 40),
    "smoke": (1, 1_000, 1, 1, 3),  # tests/test_bench_smoke.py: structure and counts only
}


def run_all(size: str = "full", *, progress: bool = True) -> dict[str, Any]:
    rounds, warm_calls, repeats, runs, key_rounds = SIZES[size]
    results: dict[str, Any] = {"machine": machine(), "mode": size}
    started = time.perf_counter()
    with started_org() as org, started_backends(org.workdir, org.key_pem) as backends:
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("construction", lambda: cases.construction(org, warm_calls // 10)),
            ("cold_mint", lambda: cases.cold_mint(org, rounds)),
            ("warm_get_token", lambda: cases.warm_get_token(org, warm_calls)),
            ("thread_burst", lambda: cases.thread_burst(org, 64, repeats)),
            ("task_burst", lambda: cases.task_burst(org, 1000, repeats)),
            ("cold_start", lambda: cases.cold_start(org, runs, backends)),
            ("key_latency", lambda: cases.key_latency(org, key_rounds, backends)),
            ("remote_login", lambda: cases.remote_login(org, rounds, backends)),
            ("fleet_burst", lambda: cases.fleet_burst(org, 8, 16, repeats)),
            ("lambda_init", lambda: lambda_init.lambda_init(org, size, backends)),
        ]
        for name, step in steps:
            t0 = time.perf_counter()
            results[name] = step()
            if progress:
                print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results["total_s"] = time.perf_counter() - started
    results["targets"] = targets(results)
    return results


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


LIB = "sfjwt-vault get_token(force_refresh=True)"
FLOOR = "floor (hand-written)"
SSF = "simple-salesforce Salesforce(privatekey_file=...)"


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it is met."""
    out: list[dict[str, Any]] = []
    built = r["construction"]["stats"]["median"]
    out.append({"target": "`Credentials()` < 100 µs", "value": f"{built:.1f} µs", "met": built < 100})
    mint = r["cold_mint"]
    new_object = mint["new_object_to_reused"]
    out.append(
        {
            "target": "new Credentials per login ≤ 1.05× a reused one",
            "value": f"{new_object:.2f}×",
            "met": new_object <= 1.05,
        }
    )
    remint = mint["remint_to_reading_floor"]
    out.append(
        {"target": "re-mint ≤ 1.05× the floor that re-reads the key", "value": f"{remint:.2f}×", "met": remint <= 1.05}
    )
    first = r["cold_start"]["first_token_to_script"]
    out.append(
        {
            "target": "fresh-interpreter first token ≤ 1.05× the hand-written script",
            "value": f"{first:.2f}×",
            "met": first <= 1.05,
        }
    )
    stats = mint["stats"]
    ratio = stats[LIB]["ratio_to_floor"]
    out.append({"target": "(1) cold mint ≤ 1.1× the floor (key kept)", "value": f"{ratio:.2f}×", "met": ratio <= 1.1})
    faster = stats[LIB]["median"] < stats[SSF]["median"]
    speedup = stats[SSF]["median"] / stats[LIB]["median"]
    out.append({"target": "(1) faster than simple-salesforce", "value": f"{speedup:.1f}× faster", "met": faster})
    warm = r["warm_get_token"]["stats"]["sfjwt-vault get_token() (cached)"]["median"]
    out.append({"target": "(2) warm get_token < 1 µs", "value": f"{warm:.2f} µs", "met": warm < 1})
    bursts = r["thread_burst"]["exchanges"] + r["task_burst"]["exchanges"]
    out.append(
        {
            "target": "(3) one exchange per burst",
            "value": f"threads {r['thread_burst']['exchanges']}, tasks {r['task_burst']['exchanges']}",
            "met": all(count == 1 for count in bursts),
        }
    )
    cold = r["cold_start"]
    inc = cold["import_increment_ms"]["median"]
    out.append(
        {
            "target": "(4) import sfjwt_vault imports neither boto3 nor hvac",
            "value": "neither" if not cold["imports_boto3_or_hvac"] else "IMPORTS ONE",
            "met": not cold["imports_boto3_or_hvac"],
        }
    )
    out.append({"target": "(4) import sfjwt_vault ≤ 15 ms over its deps", "value": f"{inc:.1f} ms", "met": inc <= 15})
    for backend, sdk in (("aws", "boto3"), ("vault", "hvac")):
        b_inc = cold["backend_import_increment_ms"][backend]["median"]
        out.append(
            {
                "target": f"(4) with the {backend} backend: ≤ 15 ms over its deps + {sdk}",
                "value": f"{b_inc:.1f} ms",
                "met": b_inc <= 15,
            }
        )
    for row, extra in cold["backend_extra_modules"].items():
        out.append(
            {
                "target": f"(4) {row}: no package beyond the SDK's own first read and the file: first token",
                "value": ", ".join(extra) or "none",
                "met": not extra,
            }
        )
    crossed = cold["aws_first_token_imports_hvac"] or cold["vault_first_token_imports_boto3"]
    out.append(
        {
            "target": "(4) an aws-sm: first token imports no hvac, a vault: one no boto3",
            "value": "crossed" if crossed else "neither",
            "met": not crossed,
        }
    )
    for backend, overhead in r["key_latency"]["overhead_ms"].items():
        out.append(
            {
                "target": f"(5) per-mint overhead beyond the backend ≤ 1 ms ({backend})",
                "value": f"{overhead:.3f} ms",
                "met": overhead <= 1.0,
            }
        )
    for backend, overhead in r["remote_login"]["overhead_ms"].items():
        out.append(
            {
                "target": f"(5) login overhead beyond a hand-written login with the raw sign ≤ 1 ms ({backend})",
                "value": f"{overhead:.3f} ms",
                "met": overhead <= 1.0,
            }
        )
    for pending in r["key_latency"]["pending"]:
        out.append({"target": f"(5) {pending}", "value": "pending", "met": None})
    return out


def _row(name: str, s: dict[str, float], extra: str = "", digits: int = 2) -> str:
    f = f"{{:.{digits}f}}"
    return f"| {name} | {f.format(s['median'])} | {f.format(s['p10'])} – {f.format(s['p90'])} | {extra} |"


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    built = r["construction"]
    lines = [
        f"Machine: {m['cpus']} cores (shared), {m['implementation']} {m['python']}, {m['platform']}; "
        f"mode {r['mode']}, {r['total_s']:.0f} s in all.",
        "",
        f"`Credentials(...)`: {built['stats']['median']:.1f} µs per object (p10 {built['stats']['p10']:.1f}, "
        f"p90 {built['stats']['p90']:.1f}; {built['calls']:,} objects).",
        "",
        f"### 1. Cold mint + exchange over TLS, key from a file (ms, {r['cold_mint']['rounds']} rounds)",
        "",
        "| contender | median | p10 – p90 | × floor |",
        "|---|---|---|---|",
    ]
    for name, s in r["cold_mint"]["stats"].items():
        lines.append(_row(name, s, f"{s['ratio_to_floor']:.2f}"))
    lines.append(f"| re-mint ÷ the floor that re-reads the key | {r['cold_mint']['remint_to_reading_floor']:.3f} | | |")
    lines.append(f"| new Credentials per login ÷ reused | {r['cold_mint']['new_object_to_reused']:.3f} | | |")
    w = r["warm_get_token"]
    lines += [
        "",
        f"### 2. Warm get_token() on a cached token (µs per call, {w['calls']:,} calls in 100 batches)",
        "",
        "| call | median | p10 – p90 | × dict |",
        "|---|---|---|---|",
    ]
    for name, s in w["stats"].items():
        lines.append(_row(name, s, f"{s['ratio_to_dict']:.1f}", digits=3))
    lines += [
        "",
        "### 3. Bursts on a cold cache",
        "",
        "| burst | exchanges per burst | wall ms median | p10 – p90 |",
        "|---|---|---|---|",
    ]
    for key, label in (("thread_burst", "threads, get_token()"), ("task_burst", "asyncio tasks, get_token_async()")):
        b = r[key]
        s = b["wall_ms"]
        lines.append(
            f"| {b['callers']} {label} × {b['repeats']} | {b['exchanges']} | {s['median']:.1f} | "
            f"{s['p10']:.1f} – {s['p90']:.1f} |"
        )
    c = r["cold_start"]
    lines += [
        "",
        f"### 4. Cold start in a fresh interpreter ({c['runs']} runs each)",
        "",
        "| scenario | wall ms median | p10 – p90 | in-process ms median |",
        "|---|---|---|---|",
    ]
    for name, row in c["scenarios"].items():
        if "pending" in row:
            lines.append(f"| {name} | pending: {row['pending']} | | |")
            continue
        s = row["wall_ms"]
        lines.append(
            f"| {name} | {s['median']:.0f} | {s['p10']:.0f} – {s['p90']:.0f} | {row['in_process_ms']['median']:.1f} |"
        )
    lines.append(f"| first token ÷ the hand-written script (wall, medians) | {c['first_token_to_script']:.3f} | | |")
    inc = c["import_increment_ms"]
    lines.append(
        f"| `import sfjwt_vault` after its own deps (increment) | | | "
        f"{inc['median']:.1f} (p10 {inc['p10']:.1f}, p90 {inc['p90']:.1f}) |"
    )
    for backend, sdk in (("aws", "boto3"), ("vault", "hvac")):
        b = c["backend_import_increment_ms"][backend]
        lines.append(
            f"| `import sfjwt_vault` + the {backend} plugin and its first-use modules, after deps + {sdk} "
            f"(increment) | | | {b['median']:.1f} (p10 {b['p10']:.1f}, p90 {b['p90']:.1f}) |"
        )
    for row, extra in c["backend_extra_modules"].items():
        packages = ", ".join(extra) or "none"
        lines.append(f"| {row}: packages beyond the SDK's own first read and the file: first token | {packages} | | |")
    top = ", ".join(f"{row['module']} {row['self_us'] / 1000:.1f}" for row in c["importtime_top_sfjwt"][:5])
    lines += ["", f"Slowest own modules (-X importtime, self ms): {top}"]
    k = r["key_latency"]
    lines += [
        "",
        f"### 5. Key fetch and signing (ms, {k['rounds']} rounds)",
        "",
        "| step | median | p10 – p90 | |",
        "|---|---|---|---|",
    ]
    for name, s in k["stats"].items():
        lines.append(_row(name, s, digits=3))
    for name in k["pending"]:
        lines.append(f"| {name} | pending | | |")
    for backend, overhead in k["overhead_ms"].items():
        if backend in k["sign_overhead_ms"]:
            lines.append(
                f"| {backend}: per-mint overhead beyond its raw sign and the JWT's encoding | {overhead:.3f} | | "
                f"of which our sign over the raw sign: {k['sign_overhead_ms'][backend]:.3f} |"
            )
            continue
        lines.append(
            f"| {backend}: per-mint overhead beyond its read and a kept-key sign | {overhead:.3f} | | "
            f"of which not keeping the key: {overhead - k['code_overhead_ms'][backend]:.3f} |"
        )
    rl = r["remote_login"]
    lines += [
        "",
        f"### 6. Cold login through a remote signer, exchange over TLS (ms, {rl['rounds']} rounds)",
        "",
        "| contender | median | p10 – p90 | |",
        "|---|---|---|---|",
    ]
    for name, s in rl["stats"].items():
        lines.append(_row(name, s))
    for backend, overhead in rl["overhead_ms"].items():
        lines.append(f"| {backend}: login overhead beyond the hand-written one | {overhead:.3f} | | |")
    fleet = r.get("fleet_burst")
    if fleet:
        lines += [
            "",
            f"### 7. A fleet on a cold cache: {fleet['processes']} processes x {fleet['threads']} threads "
            f"({fleet['repeats']} bursts)",
            "",
            "| shared cache | exchanges per burst | wall ms median | p10 – p90 |",
            "|---|---|---|---|",
        ]
        for name, row in fleet["rows"].items():
            wall = row["wall_ms"]
            lines.append(
                f"| {name} | {row['exchanges']} | {wall['median']:.0f} | {wall['p10']:.0f} – {wall['p90']:.0f} |"
            )
    if "lambda_init" in r:
        lines += lambda_init.markdown(r["lambda_init"])
    lines += ["", "### Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in r["targets"]:
        met = "pending" if t["met"] is None else ("yes" if t["met"] else "**NO**")
        lines.append(f"| {t['target']} | {t['value']} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the sfjwt-vault benchmarks (see docs/performance.md).")
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (CI), fewer iterations")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="folder for the JSON")
    args = parser.parse_args(argv)
    results = run_all("quick" if args.quick else "full")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    print(f"\nraw figures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
