"""Which policy engine a process uses."""

from __future__ import annotations

from pathlib import Path

from governance.engine import PolicyEngine
from governance.local import LocalEngine
from governance.opa import RemoteOpaEngine


def load_engine(opa_url: str | None, bundle_dir: Path | None = None) -> PolicyEngine:
    """The engine for this process: remote OPA when ``opa_url`` is set, else in-process.

    The in-process engine is loaded and self-checked now: a broken bundle raises
    :class:`PolicyLoadError` (naming file and line for syntax errors) and start-up must fail.
    """
    if opa_url:
        return RemoteOpaEngine(opa_url)
    return LocalEngine(bundle_dir)
