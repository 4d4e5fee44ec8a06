"""DreamSeed governance: one Rego policy bundle deciding for the API, the SQL door and the
dashboards; one async engine API answered in-process (regorus) or remotely (OPA), with a thin
synchronous wrapper for the CLI; a decision audit log; masking.

See governance/README.md for the contracts.
"""

from governance.bundle import DEFAULT_BUNDLE_DIR, Bundle, load_bundle
from governance.decision import (
    ANALYTICS_ACCESS,
    AUTHZ,
    DASHBOARD_ACCESS,
    DASHBOARD_ROWS,
    DECISION_RULES,
    ENTRYPOINTS,
    LRS_ACCESS,
    REGISTRATION,
    ROLES,
    SQL_ACCESS,
    SQL_MASKING,
    SQL_ROWS,
    TREATMENTS,
    TUTOR_REVEAL,
    Decision,
    PolicyLoadError,
    PolicyUnavailable,
    Resource,
    RowCondition,
    RowFilter,
    Subject,
    Treatment,
)
from governance.engine import PolicyEngine
from governance.inputs import authz_input, registration_input, reveal_input
from governance.loader import load_engine
from governance.local import LocalEngine
from governance.opa import RemoteOpaEngine
from governance.sync import SyncPolicy

__all__ = [
    "ANALYTICS_ACCESS",
    "AUTHZ",
    "DASHBOARD_ACCESS",
    "DASHBOARD_ROWS",
    "DECISION_RULES",
    "DEFAULT_BUNDLE_DIR",
    "ENTRYPOINTS",
    "LRS_ACCESS",
    "REGISTRATION",
    "ROLES",
    "SQL_ACCESS",
    "SQL_MASKING",
    "SQL_ROWS",
    "TREATMENTS",
    "TUTOR_REVEAL",
    "Bundle",
    "Decision",
    "LocalEngine",
    "PolicyEngine",
    "PolicyLoadError",
    "PolicyUnavailable",
    "RemoteOpaEngine",
    "Resource",
    "RowCondition",
    "RowFilter",
    "Subject",
    "SyncPolicy",
    "Treatment",
    "authz_input",
    "load_bundle",
    "load_engine",
    "registration_input",
    "reveal_input",
]
