"""Every `test_*` rule in the bundle's `*_test.rego` files must be true, and cover every policy line."""

from __future__ import annotations

import re
from functools import cache

import pytest

from governance import DEFAULT_BUNDLE_DIR, load_bundle
from governance.testing import RegoTestRun, _test_rules, run_rego_tests


@cache
def _run() -> RegoTestRun:
    return run_rego_tests()


_RULES = _test_rules(load_bundle())


def test_the_bundle_has_rego_tests() -> None:
    assert len(_RULES) >= 40


@pytest.mark.parametrize(("file", "rule"), _RULES, ids=[rule for _, rule in _RULES])
def test_rego_rule(file: str, rule: str) -> None:
    result = next(r for r in _run().results if r.rule == rule)
    assert result.passed, f"{rule} ({file}) is not true: {result.error or 'false/undefined'}"


def test_every_policy_line_is_covered_by_rego_tests() -> None:
    assert _run().not_covered == {}, f"lines not covered by Rego tests: {_run().not_covered}"


def test_every_policy_file_was_in_the_coverage_report() -> None:
    reported = {entry["path"] for entry in _run().coverage["files"]}
    policies = {rel for rel, _ in load_bundle().policies}
    assert policies <= reported


def test_every_rule_name_appears_in_some_test() -> None:
    bundle = load_bundle()
    tests_text = "\n".join(text for _, text in bundle.tests)
    rule_head = re.compile(
        r"^(?:default\s+)?([a-z_][a-z0-9_]*)\s*(?:\(|:=|\[|\bif\b|contains)", re.M
    )
    # helper rules are exercised through the entrypoints; entrypoints must be named in tests
    for rel, text in bundle.policies:
        names = set(rule_head.findall(text)) - {"package", "import"}
        entry = [n for n in names if n in {"decision", "columns", "filter"}]
        for name in entry:
            assert re.search(rf"\.{name}\b", tests_text), f"{rel}: {name} never used in a test"


def test_default_bundle_dir_is_the_package() -> None:
    assert (DEFAULT_BUNDLE_DIR / "policies").is_dir()
    assert (DEFAULT_BUNDLE_DIR / "data" / "roles.json").is_file()
