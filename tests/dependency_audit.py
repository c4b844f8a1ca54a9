"""Dependency audit: `pip-audit` over the pinned versions in constraints.txt (`make audit`).

Why a wrapper: pip-audit exits 0 when it could not audit a package (the
vulnerability service unreachable, or a package it cannot look up), which
would read as "no known vulnerabilities" when nothing was checked. This
script tells the three outcomes apart:

- known vulnerabilities (not in `IGNORED` with a reason): list them, exit 1;
- nothing could be audited (no network to the service, pip-audit missing or
  failing): print one `SKIP` line saying why and exit 0, so an unreachable
  service never makes CI flaky (`ACTIVITYLOG_AUDIT_STRICT=1` makes it exit 2);
- otherwise: `OK`, with how many packages were audited and how many skipped.

`python -m tests.dependency_audit [constraints.txt]`
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 300
# Vulnerability id -> why it does not affect this project (reviewed, with a date).
IGNORED: dict[str, str] = {}


@dataclass
class AuditReport:
    audited: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # package -> reason
    findings: list[str] = field(default_factory=list)  # "name version: ID (fix: ...)"
    ignored: list[str] = field(default_factory=list)


def parse_report(data: dict[str, Any]) -> AuditReport:
    """pip-audit's JSON (`--format json`) -> audited, skipped and findings."""
    report = AuditReport()
    for dep in data.get("dependencies", []):
        name = f"{dep.get('name')} {dep.get('version', '?')}"
        if dep.get("skip_reason"):
            report.skipped[name] = str(dep["skip_reason"])
            continue
        report.audited += 1
        for vuln in dep.get("vulns", []):
            ids = [vuln.get("id", "?"), *vuln.get("aliases", [])]
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            line = f"{name}: {' / '.join(ids)} (fixed in: {fixes})"
            if any(i in IGNORED for i in ids):
                report.ignored.append(line)
            else:
                report.findings.append(line)
    return report


def verdict(report: AuditReport | None, why_not: str, strict: bool) -> tuple[int, str]:
    """The exit code and the summary line for a report (None: pip-audit gave none)."""
    if report is None or report.audited == 0:
        reason = why_not or (next(iter(report.skipped.values())) if report else "no report")
        unaudited = len(report.skipped) if report else 0
        line = (
            f"SKIP: dependency audit not possible here ({unaudited} packages unaudited: "
            f"{reason}); the vulnerability service (the package index's JSON API or the "
            "OSV database) is unreachable. Run `make audit` where it is reachable."
        )
        return (2 if strict else 0), line
    if report.findings:
        return 1, "FAIL: known vulnerabilities:\n  " + "\n  ".join(report.findings)
    skipped = f", {len(report.skipped)} could not be audited" if report.skipped else ""
    ignored = f", {len(report.ignored)} reviewed and ignored" if report.ignored else ""
    return (
        0,
        f"OK: {report.audited} pinned packages audited, no known vulnerability{skipped}{ignored}",
    )


def run_pip_audit(constraints: Path) -> tuple[AuditReport | None, str]:
    """Run pip-audit on the pins; (report, "") or (None, why it gave no report)."""
    exe = shutil.which("pip-audit", path=str(Path(sys.executable).parent)) or shutil.which(
        "pip-audit"
    )
    if exe is None:
        return None, "pip-audit is not installed (pip install -e '.[dev]')"
    command = [
        exe,
        "-r",
        str(constraints),
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--format",
        "json",
        "--timeout",
        "15",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return None, f"pip-audit did not finish within {TIMEOUT_SECONDS} s"
    try:
        return parse_report(json.loads(done.stdout)), ""
    except (json.JSONDecodeError, AttributeError):
        lines = (done.stderr or done.stdout).strip().splitlines()
        return None, f"pip-audit failed: {lines[-1] if lines else 'exit ' + str(done.returncode)}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    constraints = Path(args[0]) if args else ROOT / "constraints.txt"
    strict = os.environ.get("ACTIVITYLOG_AUDIT_STRICT", "") in ("1", "true", "yes")
    report, why_not = run_pip_audit(constraints)
    code, line = verdict(report, why_not, strict)
    print(line)
    if report is not None and report.skipped and report.audited:
        print(f"  unaudited: {', '.join(sorted(report.skipped))}")
    return code


if __name__ == "__main__":
    sys.exit(main())
