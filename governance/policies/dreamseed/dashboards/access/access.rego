# METADATA
# title: Dashboard page access
# description: |
#   May the subject open a dashboard page? data.config.dashboards.pages[page].roles lists the
#   roles allowed; unknown pages are denied.
package dreamseed.dashboards.access

import data.dreamseed.common.subject.known_role
import data.dreamseed.common.subject.outside_access_hours
import data.dreamseed.common.subject.role

# METADATA
# description: The answer to the dashboards, {"allow": bool, "reason": str}.
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
} else := "unknown_page" if {
	not data.config.dashboards.pages[input.page]
} else := "role_not_allowed" if {
	not role in data.config.dashboards.pages[input.page].roles
} else := "outside_access_hours" if {
	outside_access_hours
} else := "allowed"

valid_input if {
	is_object(input.subject)
	is_string(input.page)
}
