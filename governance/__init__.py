"""DreamSeed governance: one Rego policy bundle deciding for the API, the SQL door and the
dashboards; an in-process (regorus) or remote (OPA) engine; a decision audit log; masking.

See governance/README.md for the contracts.
"""

from governance.decision import (
    AUTHZ,
    DASHBOARD_ACCESS,
    DASHBOARD_ROWS,
    DECISION_RULES,
    ENTRYPOINTS,
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
from governance.engine import (
    DEFAULT_BUNDLE_DIR,
    Bundle,
    LocalEngine,
    PolicyEngine,
    RemoteOpaEngine,
    authz_input,
    load_bundle,
    load_engine,
)

__all__ = [
    "AUTHZ",
    "DASHBOARD_ACCESS",
    "DASHBOARD_ROWS",
    "DECISION_RULES",
    "DEFAULT_BUNDLE_DIR",
    "ENTRYPOINTS",
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
    "Treatment",
    "authz_input",
    "load_bundle",
    "load_engine",
]
