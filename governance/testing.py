"""Run the bundle's Rego unit tests (``test_*`` rules in ``*_test.rego``) with coverage, and check
the bundle's layout the way Regal (the Rego linter, not obtainable here) would."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from governance.bundle import Bundle, build_regorus, load_bundle

__all__ = ["RegoTestResult", "RegoTestRun", "layout_violations", "run_rego_tests"]

_PACKAGE = re.compile(r"^package\s+([\w.]+)\s*$", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)
_ANY_PACKAGE = re.compile(r"^package\s+(\S+)", re.MULTILINE)
_TEST_SUFFIX = "_test"


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


def layout_violations(bundle: Bundle) -> list[str]:
    """Where the bundle's files break the Rego style guide's layout; empty when none do.

    - Regal ``idiomatic/directory-package-mismatch`` (with its default ``exclude-test-suffix``),
      stricter: the folder under ``policies/`` *is* the package path, so
      ``package dreamseed.api.authz`` lives in ``policies/dreamseed/api/authz/`` and its tests
      (``package dreamseed.api.authz_test``) beside it;
    - Regal ``testing/file-missing-test-suffix`` and ``testing/test-outside-test-package``:
      ``test_*`` rules only in ``_test`` packages, which live only in ``*_test.rego`` files;
    - ours: every policy file has its ``<name>_test.rego`` beside it.
    """
    problems: list[str] = []
    files = {rel: text for rel, text in (*bundle.policies, *bundle.tests)}
    for rel, text in sorted(files.items()):
        path = PurePosixPath(rel)
        found = _ANY_PACKAGE.search(text)
        if found is None:
            problems.append(f"{rel}: no package declaration")
            continue
        package = found.group(1)
        if _PACKAGE.search(text) is None:
            problems.append(f"{rel}: package {package} is not a plain dotted path")
            continue
        is_test_file = path.name.endswith(_TEST_SUFFIX + ".rego")
        is_test_package = package.endswith(_TEST_SUFFIX)
        if is_test_file != is_test_package:
            problems.append(
                f"{rel}: a *{_TEST_SUFFIX}.rego file must declare a {_TEST_SUFFIX} package and "
                f"only it may (package {package})"
            )
        if not is_test_package and _TEST_RULE.search(text):
            problems.append(f"{rel}: test_* rules outside a {_TEST_SUFFIX} package ({package})")
        expected = package.removesuffix(_TEST_SUFFIX).split(".")
        folder = list(path.parent.parts[1:])  # below policies/
        if folder != expected:
            problems.append(
                f"{rel}: package {package} belongs in policies/{'/'.join(expected)}/, "
                f"not policies/{'/'.join(folder)}/"
            )
        if not is_test_file:
            test_file = str(path.with_name(path.stem + _TEST_SUFFIX + ".rego"))
            if test_file not in files:
                problems.append(f"{rel}: no {test_file} beside it")
    return problems
