# METADATA
# title: Tests for data.dreamseed.common.subject
package dreamseed.common.subject_test

import data.dreamseed.common.subject

test_role_defaults_to_anonymous if {
	subject.role == "anonymous" with input as {}
	subject.role == "anonymous" with input as {"subject": {"role": 7}}
	subject.role == "teacher" with input as {"subject": {"role": "teacher"}}
}

test_user_id_undefined_when_empty if {
	not subject.user_id with input as {"subject": {"user_id": ""}}
	subject.user_id == "u" with input as {"subject": {"user_id": "u"}}
}

test_class_ids_default_empty if {
	subject.class_ids == [] with input as {"subject": {"class_ids": "c1"}}
}

test_permits_reads_roles_data if {
	subject.permits("users.me.read") with input as {"subject": {"role": "student"}}
	not subject.permits("content.item.create") with input as {"subject": {"role": "student"}}
}
