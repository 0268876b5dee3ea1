"""How the doctor's findings are shown: text for people (one title per line, its findings under it)
and JSON for scripts; and the exit code."""

from __future__ import annotations

import json
from dataclasses import asdict
from itertools import groupby
from typing import TextIO

from .findings import FAIL, PASS, SKIP, WARN, Finding, Report

EXIT_OK, EXIT_FAILED = 0, 1
_RANK = {FAIL: 0, WARN: 1, PASS: 2, SKIP: 3}


def exit_code(report: Report) -> int:
    """0 when nothing FAILed (WARN is fine), 1 otherwise."""
    return EXIT_FAILED if report.failed() else EXIT_OK


def _fix(finding: Finding, indent: str) -> str:
    return f"{indent}fix: {finding.fix}\n" if finding.fix and finding.status in (WARN, FAIL) else ""


def render_text(report: Report, out: TextIO) -> None:
    out.write(f"sfjwt doctor: JWT Bearer setup for {report.username or '?'} via {report.token_url or '?'}\n\n")
    findings = report.in_order()
    for _, group in groupby(findings, key=lambda f: f.line):
        items = list(group)
        if len(items) == 1:
            [only] = items
            out.write(f"{only.status}  {only.title}: {only.detail}\n{_fix(only, '      ')}")
            continue
        worst = min(items, key=lambda f: _RANK[f.status])
        out.write(f"{worst.status}  {worst.title}\n")
        for finding in items:
            out.write(f"      {finding.status}  {finding.detail}\n{_fix(finding, '            ')}")
    counts = {s: sum(1 for f in findings if f.status == s) for s in (FAIL, WARN, PASS, SKIP)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    verdict = "setup looks right" if not counts[FAIL] else "fix the FAIL lines, in order, then run sfjwt doctor again"
    out.write(f"\n{summary}: {verdict}\n")


def render_json(report: Report, out: TextIO) -> None:
    payload = {
        "ok": exit_code(report) == EXIT_OK,
        "exit_code": exit_code(report),
        "audience": report.audience,
        "token_url": report.token_url,
        "instance_url": report.instance_url,
        "org_id": report.org_id,
        "findings": [dict(asdict(f), title=f.title) for f in report.in_order()],
    }
    out.write(json.dumps(payload, indent=2) + "\n")
