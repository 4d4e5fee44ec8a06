"""Run the bundle's Rego unit tests (``test_*`` rules in ``*_test.rego``) with coverage."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.engine import Bundle, build_regorus, load_bundle

__all__ = ["RegoTestResult", "RegoTestRun", "run_rego_tests"]

_PACKAGE = re.compile(r"^package\s+([\w.]+)\s*$", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RegoTestResult:
    file: str
    rule: str  # full path, e.g. data.dreamseed.api.authz_test.test_student_reads_own_attempt
    passed: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class RegoTestRun:
    results: tuple[RegoTestResult, ...]
    #: policy file (tests excluded) -> line numbers regorus reports as not covered
    not_covered: dict[str, tuple[int, ...]]
    coverage: dict[str, Any]


def _test_rules(bundle: Bundle) -> list[tuple[str, str]]:
    rules: list[tuple[str, str]] = []
    for rel, text in bundle.tests:
        package = _PACKAGE.search(text)
        if package is None:
            raise ValueError(f"{rel}: no package declaration")
        names = dict.fromkeys(_TEST_RULE.findall(text))  # ordered, de-duplicated
        rules.extend((rel, f"data.{package.group(1)}.{name}") for name in names)
    return rules


def run_rego_tests(bundle_dir: Path | None = None) -> RegoTestRun:
    """Evaluate every ``test_*`` rule; a test passes when its value is ``true``."""
    bundle = load_bundle(bundle_dir)
    engine = build_regorus(bundle, include_tests=True, coverage=True)
    engine.set_input({})
    results: list[RegoTestResult] = []
    for rel, rule in _test_rules(bundle):
        try:
            value = engine.eval_rule(rule)
        except Exception as exc:
            message = " ".join(str(exc).split("Stack backtrace:", 1)[0].split())
            results.append(RegoTestResult(rel, rule, False, message))
            continue
        results.append(RegoTestResult(rel, rule, value is True, None))
    coverage: dict[str, Any] = json.loads(engine.get_coverage_report_as_json())
    policy_files = {rel for rel, _ in bundle.policies}
    not_covered = {
        entry["path"]: tuple(entry.get("not_covered", ()))
        for entry in coverage.get("files", [])
        if entry["path"] in policy_files and entry.get("not_covered")
    }
    return RegoTestRun(tuple(results), not_covered, coverage)
