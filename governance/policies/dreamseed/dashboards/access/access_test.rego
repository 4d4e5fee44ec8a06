# METADATA
# title: Tests for data.dreamseed.dashboards.access
package dreamseed.dashboards.access_test

import data.dreamseed.dashboards.access

page(role, name) := {"subject": {"user_id": "u", "role": role, "class_ids": ["c1"]}, "page": name}

test_attempts_per_day_for_teachers_and_admins if {
	access.decision == {"allow": true, "reason": "allowed"} with input as page("teacher", "attempts_per_day")
	access.decision.allow with input as page("admin", "attempts_per_day")
}

test_students_denied if {
	access.decision == {"allow": false, "reason": "role_not_allowed"} with input as page("student", "attempts_per_day")
}

test_policy_audit_admin_only if {
	access.decision.allow with input as page("admin", "policy_audit")
	not access.decision.allow with input as page("analyst", "policy_audit")
}

test_unknown_page_role_input if {
	access.decision.reason == "unknown_page" with input as page("admin", "secret_page")
	access.decision.reason == "unknown_role" with input as page("hacker", "usage")
	access.decision.reason == "invalid_input" with input as {"subject": {"role": "admin"}}
}

test_dashboard_access_hours if {
	access.decision.reason == "outside_access_hours" with input as page("teacher", "attempts_per_day")
		with data.config.access_hours as {"enabled": true, "timezone": "UTC", "windows": {"teacher": {"weekdays": [], "start_hour": 0, "end_hour": 24}}}
}

test_reports_by_role if {
	access.decision.allow with input as page("teacher", "class_report")
	access.decision.allow with input as page("teacher", "item_bank_health")
	access.decision.allow with input as page("student", "student_report")
	access.decision.allow with input as page("teacher", "student_report")
	not access.decision.allow with input as page("student", "class_report")
	not access.decision.allow with input as page("student", "item_bank_health")
	not access.decision.allow with input as page("analyst", "student_report")
}

test_admin_pages if {
	access.decision.allow with input as page("admin", "platform_health")
	not access.decision.allow with input as page("analyst", "platform_health")
	not access.decision.allow with input as page("teacher", "platform_health")
	access.decision.allow with input as page("analyst", "usage")
	not access.decision.allow with input as page("teacher", "usage")
	not access.decision.allow with input as page("student", "usage")
}
