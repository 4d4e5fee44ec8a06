# METADATA
# title: Subject helpers
# description: |
#   Who is asking: role, user id, class memberships, role permissions (data.config.roles),
#   ownership and access-hour windows (data.config.access_hours). Shared by every decision.
package dreamseed.common.subject

# METADATA
# description: The subject's role; "anonymous" when the input carries none.
default role := "anonymous"

role := input.subject.role if is_string(input.subject.role)

# METADATA
# description: The subject's user id; undefined for anonymous callers.
user_id := input.subject.user_id if {
	is_string(input.subject.user_id)
	input.subject.user_id != ""
}

# METADATA
# description: |
#   The subject's pseudonymous key (HMAC of the user id with the lake's key, computed by the
#   caller); undefined when the input carries none.
user_key := input.subject.user_key if {
	is_string(input.subject.user_key)
	input.subject.user_key != ""
}

# METADATA
# description: Classes the subject belongs to (student) or teaches (teacher).
default class_ids := []

class_ids := input.subject.class_ids if is_array(input.subject.class_ids)

# METADATA
# description: True when the role is listed in data.config.roles.
known_role if data.config.roles[role]

# METADATA
# description: True when the subject's role lists the action in data.config.roles.
permits(action) if action in data.config.roles[role]

# METADATA
# description: The access window configured for the subject's role, if any and if enabled.
access_window := data.config.access_hours.windows[role] if data.config.access_hours.enabled == true

# METADATA
# description: |
#   True when access hours are enabled for the role and context.now is outside the window
#   (or missing / not RFC 3339: fail closed).
outside_access_hours if {
	access_window
	not within_window(access_window)
}

within_window(window) if {
	regex.match(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`, input.context.now)
	ns := time.parse_rfc3339_ns(input.context.now)
	zone := data.config.access_hours.timezone
	[hour, _, _] := time.clock([ns, zone])
	time.weekday([ns, zone]) in window.weekdays
	hour >= window.start_hour
	hour < window.end_hour
}
