# METADATA
# title: Tests for data.dreamseed.api.authz
package dreamseed.api.authz_test

import data.dreamseed.api.authz

student := {"user_id": "s1", "role": "student", "class_ids": ["c1"]}

teacher := {"user_id": "t1", "role": "teacher", "class_ids": ["c1"]}

analyst := {"user_id": "a1", "role": "analyst", "class_ids": []}

admin := {"user_id": "ad1", "role": "admin", "class_ids": []}

service := {"user_id": "svc", "role": "service", "class_ids": []}

ctx := {"now": "2024-04-29T10:00:00Z", "active_exam_item_ids": [], "request_id": "r1"}

request(subject, action, resource) := {"subject": subject, "action": action, "resource": resource, "context": ctx}

attempt(owner, class) := {"type": "attempt", "id": "at1", "owner_id": owner, "class_id": class}

test_route_level_allowed_when_role_lists_action if {
	authz.decision == {"allow": true, "reason": "allowed"} with input as request(teacher, "exams.exam.create", null)
}

test_route_level_absent_resource_is_route_level if {
	authz.decision.allow with input as {"subject": teacher, "action": "content.item.create", "context": ctx}
}

test_route_level_denied_when_role_lacks_action if {
	authz.decision == {"allow": false, "reason": "action_not_permitted"} with input as request(student, "content.item.create", null)
}

test_anonymous_may_sign_in_only if {
	authz.decision.allow with input as request({"user_id": null, "role": "anonymous"}, "users.session.create", null)
	authz.decision.reason == "action_not_permitted" with input as request({"user_id": null}, "users.me.read", null)
}

test_unknown_role_denied if {
	authz.decision == {"allow": false, "reason": "unknown_role"} with input as request({"user_id": "x", "role": "root"}, "users.me.read", null)
}

test_invalid_input_denied if {
	authz.decision == {"allow": false, "reason": "invalid_input"} with input as {}
	authz.decision.reason == "invalid_input" with input as request(student, "users.me.read", "attempt")
	authz.decision.reason == "invalid_input" with input as {"subject": student, "action": 3}
}

test_student_reads_own_attempt if {
	authz.decision.allow with input as request(student, "exams.attempt.read", attempt("s1", "c1"))
}

test_student_cannot_read_classmates_attempt if {
	authz.decision == {"allow": false, "reason": "resource_out_of_scope"} with input as request(student, "exams.attempt.read", attempt("s2", "c1"))
}

test_student_reads_exam_of_her_class if {
	authz.decision.allow with input as request(student, "exams.attempt.start", {"type": "exam", "id": "e1", "owner_id": "t1", "class_id": "c1"})
	not authz.decision.allow with input as request(student, "exams.attempt.start", {"type": "exam", "id": "e1", "owner_id": "t1", "class_id": "c2"})
}

test_teacher_reads_attempts_of_her_class if {
	authz.decision.allow with input as request(teacher, "exams.attempt.read", attempt("s2", "c1"))
}

test_teacher_cannot_read_other_class if {
	authz.decision.reason == "resource_out_of_scope" with input as request(teacher, "exams.attempt.read", attempt("s2", "c9"))
	authz.decision.reason == "resource_out_of_scope" with input as request(teacher, "exams.attempt.read", attempt("s2", null))
}

test_teacher_updates_own_item if {
	authz.decision.allow with input as request(teacher, "content.item.update", {"type": "item", "id": "i1", "owner_id": "t1", "class_id": null})
	not authz.decision.allow with input as request(teacher, "content.item.update", {"type": "item", "id": "i1", "owner_id": "t2", "class_id": null})
}

test_student_reads_files_of_items_shown_in_her_class if {
	authz.decision.allow with input as request(student, "learning.media.read", {"type": "item", "id": "i1", "owner_id": "t1", "class_id": "c1"})
	authz.decision.reason == "resource_out_of_scope" with input as request(student, "learning.media.read", {"type": "item", "id": "i1", "owner_id": "t1", "class_id": "c2"})
	authz.decision.reason == "resource_out_of_scope" with input as request(student, "learning.media.read", {"type": "item", "id": "i1", "owner_id": "t1", "class_id": null})
	not authz.decision.allow with input as request(student, "content.item.update", {"type": "item", "id": "i1", "owner_id": "t1", "class_id": "c1"})
}

test_admin_sees_everything if {
	authz.decision.allow with input as request(admin, "exams.attempt.read", attempt("s2", "c9"))
	authz.decision.allow with input as request(admin, "governance.decisions.read", null)
}

test_service_acts_on_any_resource if {
	authz.decision.allow with input as request(service, "exams.attempt.read", attempt("s2", "c9"))
}

test_analyst_reads_aggregate_reports_only if {
	authz.decision.allow with input as request(analyst, "analytics.report.read", {"type": "report", "id": "usage", "owner_id": null, "class_id": null})
	not authz.decision.allow with input as request(analyst, "analytics.report.read", {"type": "class_report", "id": "r", "owner_id": "t1", "class_id": "c1"})
	authz.decision.allow with input as request(analyst, "notifications.notification.read", {"type": "notification", "id": "n", "owner_id": "a1", "class_id": null})
}

test_access_hours_off_by_default if {
	authz.decision.allow with input as request(student, "users.me.read", null)
		with input.context.now as "2024-04-29T03:00:00Z"
}

hours := {"enabled": true, "timezone": "Europe/Berlin", "windows": {"student": {"weekdays": ["Monday"], "start_hour": 8, "end_hour": 20}}}

test_access_hours_enforced_when_enabled if {
	authz.decision.allow with input as request(student, "users.me.read", null)
		with data.config.access_hours as hours

	# 19:00 UTC is 21:00 in Berlin in summer time
	authz.decision.reason == "outside_access_hours" with input as request(student, "users.me.read", null)
		with input.context.now as "2024-04-29T19:00:00Z"
		with data.config.access_hours as hours

	# Tuesday
	authz.decision.reason == "outside_access_hours" with input as request(student, "users.me.read", null)
		with input.context.now as "2024-04-30T10:00:00Z"
		with data.config.access_hours as hours
}

test_access_hours_fail_closed_without_clock if {
	authz.decision.reason == "outside_access_hours" with input as {"subject": student, "action": "users.me.read"}
		with data.config.access_hours as hours
	authz.decision.reason == "outside_access_hours" with input as request(student, "users.me.read", null)
		with input.context.now as "yesterday"
		with data.config.access_hours as hours
}

test_access_hours_do_not_apply_to_other_roles if {
	authz.decision.allow with input as request(teacher, "users.me.read", null)
		with input.context.now as "2024-04-30T23:00:00Z"
		with data.config.access_hours as hours
}
