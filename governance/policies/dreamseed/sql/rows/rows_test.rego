# METADATA
# title: Tests for data.dreamseed.sql.rows
package dreamseed.sql.rows_test

import data.dreamseed.sql.rows

test_analyst_and_admin_see_all_rows if {
	rows.filter == {"mode": "all"} with input as {"subject": {"user_id": "a", "role": "analyst"}, "table": "exams.attempts"}
	rows.filter == {"mode": "all"} with input as {"subject": {"user_id": "a", "role": "admin"}, "table": "exams.attempts"}
}

test_teacher_sees_only_her_classes if {
	rows.filter == {"mode": "any", "conditions": [{"column": "class_id", "values": ["c1", "c2"]}]} with input as {
		"subject": {"user_id": "t1", "role": "teacher", "class_ids": ["c1", "c2"]},
		"table": "analytics.attempts_per_day",
	}
}

test_teacher_sees_own_and_class_rows if {
	rows.filter == {"mode": "any", "conditions": [{"column": "owner_id", "values": ["t1"]}, {"column": "class_id", "values": ["c1"]}]} with input as {
		"subject": {"user_id": "t1", "role": "teacher", "class_ids": ["c1"]},
		"table": "exams.exams",
	}
}

test_teacher_without_classes_sees_nothing_class_scoped if {
	rows.filter == {"mode": "none"} with input as {"subject": {"user_id": "t1", "role": "teacher", "class_ids": []}, "table": "analytics.attempts_per_day"}
}

test_student_sees_own_rows if {
	rows.filter == {"mode": "any", "conditions": [{"column": "student_id", "values": ["s1"]}]} with input as {
		"subject": {"user_id": "s1", "role": "student", "class_ids": ["c1"]},
		"table": "exams.attempts",
	}
}

test_unknown_table_role_or_input_sees_nothing if {
	rows.filter == {"mode": "none"} with input as {"subject": {"user_id": "a", "role": "analyst"}, "table": "nowhere.t"}
	rows.filter == {"mode": "none"} with input as {"subject": {"user_id": "a", "role": "intruder"}, "table": "exams.attempts"}
	rows.filter == {"mode": "none"} with input as {"subject": {"user_id": "a", "role": "analyst"}}
	rows.filter == {"mode": "none"} with input as {"subject": {"role": "student"}, "table": "exams.attempts"}
}
