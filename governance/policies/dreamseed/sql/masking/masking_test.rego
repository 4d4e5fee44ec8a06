# METADATA
# title: Tests for data.dreamseed.sql.masking
package dreamseed.sql.masking_test

import data.dreamseed.sql.masking

analyst := {"user_id": "a1", "role": "analyst", "class_ids": []}

admin := {"user_id": "ad", "role": "admin", "class_ids": []}

account_columns := ["user_id", "email", "display_name", "role", "password_hash", "created_at"]

test_analyst_gets_pseudonyms_and_no_names if {
	masking.columns == {
		"user_id": "pseudonymize",
		"email": "redact",
		"display_name": "redact",
		"role": "clear",
		"password_hash": "drop",
		"created_at": "clear",
	} with input as {"subject": analyst, "table": "users.accounts", "columns": account_columns}
}

test_admin_sees_clear_but_never_secrets if {
	masking.columns == {
		"user_id": "clear",
		"email": "clear",
		"display_name": "clear",
		"role": "clear",
		"password_hash": "drop",
		"created_at": "clear",
	} with input as {"subject": admin, "table": "users.accounts", "columns": account_columns}
}

test_unlisted_column_falls_back_to_name_rules_then_unclassified if {
	masking.columns == {"email": "redact", "student_id": "pseudonymize", "mystery": "drop"} with input as {
		"subject": analyst,
		"table": "exams.attempts",
		"columns": ["email", "student_id", "mystery"],
	}
	masking.columns.mystery == "clear" with input as {"subject": admin, "table": "exams.attempts", "columns": ["mystery"]}
}

test_unknown_table_or_role_drops_everything if {
	masking.columns == {"user_id": "drop", "x": "drop"} with input as {"subject": admin, "table": "nowhere.t", "columns": ["user_id", "x"]}
	masking.columns == {"role": "drop"} with input as {"subject": {"role": "intruder"}, "table": "users.accounts", "columns": ["role"]}
}

test_student_never_sees_answer_keys if {
	masking.columns == {"answer_key": "drop", "stem": "clear"} with input as {"subject": {"user_id": "s", "role": "student"}, "table": "content.items", "columns": ["answer_key", "stem"]}
}

test_no_columns_no_answer_entries if {
	masking.columns == {} with input as {"subject": analyst, "table": "users.accounts", "columns": [3]}
}
