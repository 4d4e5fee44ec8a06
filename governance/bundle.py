"""The policy bundle: Rego files and JSON data read once, hashed into a revision, and loaded into
a regorus engine (with the file and line of any syntax error)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import regorus

from governance.decision import PolicyLoadError

#: The bundle shipped with the package: ``policies/**/*.rego`` and ``data/*.json``.
DEFAULT_BUNDLE_DIR: Final = Path(__file__).resolve().parent

#: ``data/<stem>.json`` is mounted at ``data.config.<stem>``.
DATA_ROOT: Final = "config"

_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")
_ERROR = re.compile(r"^error:\s*(?P<msg>.+)$", re.MULTILINE)


def clean_error(exc: BaseException) -> str:
    """regorus errors carry a Rust stack backtrace: keep the message only."""
    text = str(exc).split("Stack backtrace:", 1)[0].strip()
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Bundle:
    """The files of a policy bundle, read once. ``revision`` hashes policies + data (not tests)."""

    root: Path
    policies: tuple[tuple[str, str], ...]  # (path relative to root, text), tests excluded
    tests: tuple[tuple[str, str], ...]  # *_test.rego
    data: dict[str, Any]  # {"config": {stem: content}}
    revision: str


def load_bundle(bundle_dir: Path | None = None) -> Bundle:
    """Read ``<bundle_dir>/policies/**/*.rego`` and ``<bundle_dir>/data/*.json``.

    Raises :class:`PolicyLoadError` naming the file (and line) of unreadable JSON.
    """
    root = (bundle_dir or DEFAULT_BUNDLE_DIR).resolve()
    policy_dir = root / "policies"
    if not policy_dir.is_dir():
        raise PolicyLoadError("no policies/ directory in the bundle", file=str(root))
    policies: list[tuple[str, str]] = []
    tests: list[tuple[str, str]] = []
    for path in sorted(policy_dir.rglob("*.rego")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        (tests if path.name.endswith("_test.rego") else policies).append((rel, text))
    if not policies:
        raise PolicyLoadError("the bundle has no policies", file=str(policy_dir))
    config: dict[str, Any] = {}
    data_files: list[tuple[str, str]] = []
    data_dir = root / "data"
    for path in sorted(data_dir.glob("*.json")) if data_dir.is_dir() else []:
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        try:
            config[path.stem] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyLoadError(
                f"invalid JSON: {exc.msg}", file=rel, line=exc.lineno, column=exc.colno
            ) from exc
        data_files.append((rel, text))
    digest = hashlib.sha256()
    for rel, text in (*policies, *data_files):
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(text.encode())
        digest.update(b"\0")
    return Bundle(
        root=root,
        policies=tuple(policies),
        tests=tuple(tests),
        data={DATA_ROOT: config},
        revision=digest.hexdigest()[:12],
    )


def build_regorus(
    bundle: Bundle, *, include_tests: bool = False, coverage: bool = False
) -> regorus.Engine:
    """A regorus engine with the bundle's policies (and tests) and data loaded.

    A Rego syntax error raises :class:`PolicyLoadError` with the file, line and column.
    """
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    if coverage:
        engine.set_enable_coverage(True)
    files = bundle.policies + (bundle.tests if include_tests else ())
    for rel, text in files:
        try:
            engine.add_policy(rel, text)
        except Exception as exc:  # regorus raises RuntimeError with a rendered diagnostic
            message = clean_error(exc)
            where = _LOCATION.search(str(exc))
            what = _ERROR.search(str(exc))
            detail = what.group("msg").strip() if what else message
            if where:
                raise PolicyLoadError(
                    f"Rego error: {detail}",
                    file=where.group("file"),
                    line=int(where.group("line")),
                    column=int(where.group("col")),
                ) from exc
            raise PolicyLoadError(f"Rego error: {detail}", file=rel) from exc
    engine.add_data(bundle.data)
    return engine
