"""The policy tree keeps the Rego style guide's layout (what Regal's directory-package-mismatch,
file-missing-test-suffix and test-outside-test-package rules check; Regal is not obtainable here).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from governance import DEFAULT_BUNDLE_DIR, load_bundle
from governance.testing import layout_violations

AUTHZ = Path("policies/dreamseed/api/authz")


def test_the_policy_tree_matches_its_packages() -> None:
    bundle = load_bundle()
    assert len(bundle.policies) >= 9
    assert layout_violations(bundle) == []


def test_every_package_is_under_dreamseed() -> None:
    for rel, _ in (*load_bundle().policies, *load_bundle().tests):
        assert rel.startswith("policies/dreamseed/"), rel


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE_DIR / "policies", copy / "policies")
    shutil.copytree(DEFAULT_BUNDLE_DIR / "data", copy / "data")
    return copy


def test_a_policy_in_the_wrong_folder_is_reported(bundle_copy: Path) -> None:
    moved = bundle_copy / "policies/dreamseed/api/authz2"
    (bundle_copy / AUTHZ).rename(moved)
    problems = layout_violations(load_bundle(bundle_copy))
    assert any(
        p.startswith("policies/dreamseed/api/authz2/authz.rego: package dreamseed.api.authz ")
        and "belongs in policies/dreamseed/api/authz/" in p
        for p in problems
    ), problems
    # the test package beside it is judged without its _test suffix, and is misplaced too
    assert any(p.startswith("policies/dreamseed/api/authz2/authz_test.rego") for p in problems)


def test_a_renamed_package_is_reported(bundle_copy: Path) -> None:
    policy = bundle_copy / AUTHZ / "authz.rego"
    policy.write_text(
        policy.read_text().replace("package dreamseed.api.authz", "package dreamseed.authz")
    )
    problems = layout_violations(load_bundle(bundle_copy))
    assert problems == [
        "policies/dreamseed/api/authz/authz.rego: package dreamseed.authz belongs in "
        "policies/dreamseed/authz/, not policies/dreamseed/api/authz/"
    ]


def test_tests_outside_a_test_package_are_reported(bundle_copy: Path) -> None:
    tests = bundle_copy / AUTHZ / "authz_test.rego"
    tests.write_text(
        tests.read_text().replace("package dreamseed.api.authz_test", "package dreamseed.api.authz")
    )
    problems = layout_violations(load_bundle(bundle_copy))
    assert any("must declare a _test package" in p for p in problems), problems
    assert any("test_* rules outside a _test package" in p for p in problems), problems


def test_a_policy_without_tests_is_reported(bundle_copy: Path) -> None:
    (bundle_copy / AUTHZ / "authz_test.rego").unlink()
    assert layout_violations(load_bundle(bundle_copy)) == [
        "policies/dreamseed/api/authz/authz.rego: no "
        "policies/dreamseed/api/authz/authz_test.rego beside it"
    ]
