"""Only `core.settings` reads `DREAMSEED_*` variables, and nothing reads the environment at import.

A command may still *write* such a variable for a child process (`serve --workers N`), and code
may pass the environment on whole (`{**os.environ, ...}`); what it must not do is look a
`DREAMSEED_*` value up itself and so skip the `.env` layering and the checks of the settings.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("core", "apis", "cli", "dashboards", "governance", "lake", "orchestration")
THE_READER = ROOT / "core" / "settings.py"


def _is_environ(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _names(tree: ast.Module) -> dict[str, str]:
    """Module-level string constants (`_SERVICES_ENV = "DREAMSEED_SERVE_SERVICES"`), and the
    settings' own `PREFIX` when a module imports it."""
    found: dict[str, str] = {"PREFIX": "DREAMSEED_"}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def _key(node: ast.expr, names: dict[str, str]) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id, "")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _key(node.left, names) + _key(node.right, names)
    return ""


def _reads(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, variable) of every `os.environ[...]`, `os.environ.get(...)`, `os.getenv(...)`."""
    names = _names(tree)
    reads: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            key = node.slice if _is_environ(node.value) else None
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            func = node.func
            if (func.attr == "get" and _is_environ(func.value)) or func.attr == "getenv":
                key = node.args[0]
        if key is not None:
            reads.append((node.lineno, _key(key, names)))
    return reads


def _sources() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]


def test_no_dreamseed_variable_is_read_outside_the_settings() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} reads {name}"
        for path in _sources()
        if path != THE_READER
        for line, name in _reads(ast.parse(path.read_text(encoding="utf-8")))
        if name.startswith("DREAMSEED_")
    ]
    assert not offenders, "add a field to core.settings instead:\n" + "\n".join(offenders)


def test_the_check_sees_the_forms_of_a_read() -> None:
    code = (
        'import os\nVAR = "DREAMSEED_X"\n'
        'a = os.environ["DREAMSEED_A"]\nb = os.environ.get(VAR)\nc = os.getenv("DREAMSEED_" + "C")\n'
        'os.environ["DREAMSEED_W"] = "written, not read"\n'
    )
    assert [name for _, name in _reads(ast.parse(code))] == [
        "DREAMSEED_A",
        "DREAMSEED_X",
        "DREAMSEED_C",
    ]


def test_no_module_reads_the_environment_when_imported() -> None:
    # a read at module level (outside any function) would run at import time
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        top_level += [
            item
            for cls in tree.body
            if isinstance(cls, ast.ClassDef)
            for item in cls.body
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        for node in top_level:
            module = ast.Module(body=[node], type_ignores=[])
            offenders += [f"{path.relative_to(ROOT)}:{line}" for line, _ in _reads(module)]
    assert not offenders, "read the environment at start-up, not on import:\n" + "\n".join(
        offenders
    )
