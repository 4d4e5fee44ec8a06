"""The house stays livable: no module of the apps and libraries grows past 500 lines, and no
module imports itself back through others at run time (a cycle), so each can be read bottom-up
(imports under `if TYPE_CHECKING:` are annotations only and do not count)."""

from __future__ import annotations

from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[3]
SIZED_PACKAGES = ("apis", "lake", "governance", "orchestration")
PACKAGES = (
    "core",
    "psychometrics",
    "governance",
    "lake",
    "apis",
    "orchestration",
    "dashboards",
    "cli",
)
MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for package in SIZED_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these by concept (at most {MAX_LINES} lines): {too_long}"


def test_no_import_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)
