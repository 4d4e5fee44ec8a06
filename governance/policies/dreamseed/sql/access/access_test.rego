# METADATA
# title: Tests for data.dreamseed.sql.access
package dreamseed.sql.access_test

import data.dreamseed.sql.access

analyst := {"user_id": "a1", "role": "analyst", "class_ids": []}

test_analyst_queries_classified_table if {
	access.decision == {"allow": true, "reason": "allowed"} with input as {"subject": analyst, "table": "exams.attempts"}
}

test_unclassified_table_denied if {
	access.decision == {"allow": false, "reason": "unclassified_table"} with input as {"subject": analyst, "table": "scratch.secrets"}
}

test_teacher_and_student_have_no_sql_door if {
	access.decision.reason == "action_not_permitted" with input as {"subject": {"user_id": "t", "role": "teacher"}, "table": "exams.attempts"}
	access.decision.reason == "action_not_permitted" with input as {"subject": {"user_id": "s", "role": "student"}, "table": "exams.attempts"}
}

test_admin_queries if {
	access.decision.allow with input as {"subject": {"user_id": "ad", "role": "admin"}, "table": "users.accounts"}
}

test_invalid_and_unknown if {
	access.decision.reason == "invalid_input" with input as {"subject": analyst}
	access.decision.reason == "unknown_role" with input as {"subject": {"role": "x"}, "table": "exams.attempts"}
}

test_sql_access_hours if {
	access.decision.reason == "outside_access_hours" with input as {"subject": analyst, "table": "exams.attempts", "context": {"now": "2024-04-29T10:00:00Z"}}
		with data.config.access_hours as {"enabled": true, "timezone": "UTC", "windows": {"analyst": {"weekdays": [], "start_hour": 0, "end_hour": 24}}}
}
