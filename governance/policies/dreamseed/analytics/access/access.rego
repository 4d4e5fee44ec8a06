# METADATA
# title: Live learner analytics access
# description: |
#   Decides every request of the analytics service (apis/analytics) once the resource is known.
#   A student's progress (resource type "student_progress", student_id): the student herself,
#   or an admin. A class's progress and presence ("class_progress", "class_presence", class_id,
#   class_teacher_id): the class's teacher, or an admin. A student never reads another student's
#   figures, nor a class's (they list her classmates); analysts and services read none of it.
#   Input: subject {user_id, role}, action "analytics.progress.read" or
#   "analytics.presence.read", resource {type, student_id?, class_id?, class_teacher_id?}.
package dreamseed.analytics.access

import data.dreamseed.common.subject.role
import data.dreamseed.common.subject.user_id

# METADATA
# description: The answer to the analytics service, {"allow": bool, "reason": str}.
# entrypoint: true
decision := {"allow": allow, "reason": reason}

# METADATA
# description: True only when a check allowed the request.
default allow := false

allow if reason == "allowed"

# METADATA
# description: The first failing check, or "allowed".
default reason := "invalid_input"

reason := "invalid_input" if {
	not valid_input
} else := "allowed" if {
	role == "admin"
} else := "not_her_own" if {
	input.resource.type == "student_progress"
	not own_progress
} else := "not_her_class" if {
	input.resource.type in class_types
	not teaches_class
} else := "allowed"

class_types := {"class_progress", "class_presence"}

actions := {
	"student_progress": "analytics.progress.read",
	"class_progress": "analytics.progress.read",
	"class_presence": "analytics.presence.read",
}

valid_input if {
	is_object(input.subject)
	is_object(input.resource)
	actions[input.resource.type] == input.action
}

own_progress if {
	role in {"student", "teacher"}
	is_string(input.resource.student_id)
	input.resource.student_id == user_id
}

teaches_class if {
	role == "teacher"
	is_string(input.resource.class_teacher_id)
	input.resource.class_teacher_id == user_id
}
