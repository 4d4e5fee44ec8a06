# METADATA
# title: Tests for data.dreamseed.dashboards.rows
package dreamseed.dashboards.rows_test

import data.dreamseed.dashboards.rows

page(subject, name) := {"subject": subject, "page": name}

teacher := {"user_id": "t1", "role": "teacher", "class_ids": ["c1"]}

test_teacher_sees_her_classes if {
	rows.filter == {"mode": "any", "conditions": [{"column": "class_id", "values": ["c1"]}]} with input as page(teacher, "attempts_per_day")
}

test_admin_sees_all if {
	rows.filter == {"mode": "all"} with input as page({"user_id": "a", "role": "admin"}, "attempts_per_day")
}

test_denied_page_shows_nothing if {
	rows.filter == {"mode": "none"} with input as page({"user_id": "s1", "role": "student", "class_ids": ["c1"]}, "attempts_per_day")
	rows.filter == {"mode": "none"} with input as page(teacher, "no_such_page")
}

test_page_without_dataset_shows_nothing if {
	rows.filter == {"mode": "none"} with input as page({"user_id": "a", "role": "admin"}, "platform_health")
}

test_class_report_teacher_sees_her_classes_and_nothing_else if {
	# agg_student_risk knows students by key only: "own" matches the subject's key
	rows.filter == {"mode": "any", "conditions": [{"column": "class_id", "values": ["c1"]}]} with input as page(teacher, "class_report")
	rows.filter == {"mode": "any", "conditions": [
		{"column": "student_key", "values": ["kt1"]},
		{"column": "class_id", "values": ["c1"]},
	]} with input as page(object.union(teacher, {"user_key": "kt1"}), "class_report")
	rows.filter == {"mode": "none"} with input as page({"user_id": "t2", "role": "teacher", "class_ids": []}, "class_report")
}

test_item_bank_health_teacher_sees_her_own_bank if {
	# the item-bank marts know owners by key only (built from the lake): "own" matches the subject's key
	rows.filter == {"mode": "any", "conditions": [{"column": "owner_key", "values": ["kt1"]}]} with input as page(object.union(teacher, {"user_key": "kt1"}), "item_bank_health")
	rows.filter == {"mode": "none"} with input as page(teacher, "item_bank_health")
	rows.filter == {"mode": "all"} with input as page({"user_id": "a", "role": "admin"}, "item_bank_health")
}

test_student_report_student_sees_only_herself if {
	student := {"user_id": "s1", "role": "student", "class_ids": ["c1"], "user_key": "ks1"}
	rows.filter == {"mode": "any", "conditions": [{"column": "student_key", "values": ["ks1"]}]} with input as page(student, "student_report")
	# without her key (the caller did not compute it) she sees nothing, never someone else
	rows.filter == {"mode": "none"} with input as page(object.remove(student, ["user_key"]), "student_report")
	rows.filter == {"mode": "none"} with input as page(student, "class_report")
	rows.filter == {"mode": "none"} with input as page(student, "item_bank_health")
	rows.filter == {"mode": "none"} with input as page({"user_id": "x", "role": "analyst"}, "student_report")
}

test_usage_rows_for_admin_and_analyst_only if {
	rows.filter == {"mode": "all"} with input as page({"user_id": "n", "role": "analyst"}, "usage")
	rows.filter == {"mode": "all"} with input as page({"user_id": "a", "role": "admin"}, "usage")
	rows.filter == {"mode": "none"} with input as page(teacher, "usage")
}

test_policy_audit_rows_for_admin if {
	rows.filter == {"mode": "all"} with input as page({"user_id": "a", "role": "admin"}, "policy_audit")
	rows.filter == {"mode": "none"} with input as page({"user_id": "n", "role": "analyst"}, "policy_audit")
}
