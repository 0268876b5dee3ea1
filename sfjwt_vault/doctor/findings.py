"""The doctor's checklist lines and the findings collected on them.

Each line is numbered after the README: "Check N" is the troubleshooting checklist (the order that
solves most JWT Bearer failures, `sfjwt_vault.errors.Check`), "Step N" one of the six setup steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Check

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"


def _check(check: Check) -> str:
    return f"Check {check.value}"


# The checklist lines, in the order they are checked and printed.
LINES: dict[str, str] = {
    "configuration": "configuration",
    "consumer_key": _check(Check.CONSUMER_KEY),
    "username": _check(Check.USERNAME),
    "audience": _check(Check.AUDIENCE),
    "key": "Step 2. private key loads from its store",
    "certificate": _check(Check.CERTIFICATE),
    "clock": "Step 4. clock (the assertion's exp)",
    "user_authorized": _check(Check.USER_AUTHORIZED),
    "api_permission": _check(Check.API_PERMISSION),
    "exchange": "Steps 5-6. live exchange",
}
# The line a Salesforce error's checklist entry points at.
CHECK_LINE: dict[Check, str] = {
    Check.CONSUMER_KEY: "consumer_key",
    Check.USERNAME: "username",
    Check.AUDIENCE: "audience",
    Check.CERTIFICATE: "certificate",
    Check.USER_AUTHORIZED: "user_authorized",
    Check.API_PERMISSION: "api_permission",
    Check.CLOCK: "clock",
}
BLOCKING = ("configuration", "consumer_key", "audience", "key")  # a FAIL here means no live exchange
LIVE = ("clock", "user_authorized", "api_permission", "exchange")


@dataclass
class Finding:
    """One result on one checklist line. `detail` and `fix` never hold a secret."""

    line: str
    status: str
    detail: str
    fix: str | None = None

    @property
    def title(self) -> str:
        return LINES[self.line]


@dataclass
class Report:
    """The findings so far and what the checks learned on the way (endpoints, the org)."""

    username: str = ""
    audience: str | None = None
    token_url: str | None = None
    instance_url: str | None = None
    org_id: str | None = None
    findings: list[Finding] = field(default_factory=list)

    def add(self, line: str, status: str, detail: str, fix: str | None = None) -> None:
        self.findings.append(Finding(line, status, detail, fix))

    def statuses(self, line: str) -> set[str]:
        return {f.status for f in self.findings if f.line == line}

    def drop(self, line: str, status: str) -> None:
        self.findings = [f for f in self.findings if not (f.line == line and f.status == status)]

    def failed(self) -> bool:
        return any(f.status == FAIL for f in self.findings)

    def in_order(self) -> list[Finding]:
        order = list(LINES)
        return sorted(self.findings, key=lambda f: order.index(f.line))
