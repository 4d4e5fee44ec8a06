"""What Dagster loads: `dagster dev -m orchestration.definitions` (or `dreamseed pipeline ui`).

Settings are read once, when Dagster loads the code location, not at import time.
"""

from __future__ import annotations

import dagster as dg

from core.settings import Settings
from orchestration.builder import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.load())
