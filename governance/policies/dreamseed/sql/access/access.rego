# METADATA
# title: Analyst SQL door, table access
# description: |
#   May the subject query this table through the SQL door? The role needs "sql.query.run" and the
#   table must be registered (classified) in data.config.tables: unclassified tables are denied.
package dreamseed.sql.access

import data.dreamseed.common.subject
import data.dreamseed.common.subject.known_role
import data.dreamseed.common.subject.outside_access_hours
import data.dreamseed.common.tables

# METADATA
# description: The answer to the SQL door, {"allow": bool, "reason": str}.
# entrypoint: true
decision := {"allow": allow, "reason": reason}

# METADATA
# description: True only when every check passed.
default allow := false

allow if reason == "allowed"

# METADATA
# description: The first failing check, or "allowed".
default reason := "invalid_input"

reason := "invalid_input" if {
	not valid_input
} else := "unknown_role" if {
	not known_role
} else := "action_not_permitted" if {
	not subject.permits("sql.query.run")
} else := "outside_access_hours" if {
	outside_access_hours
} else := "unclassified_table" if {
	not tables.known(input.table)
} else := "allowed"

valid_input if {
	is_object(input.subject)
	is_string(input.table)
}
