# METADATA
# title: Tests for data.dreamseed.lrs.access
package dreamseed.lrs.access_test

import data.dreamseed.lrs.access

client(scopes, class_id, action) := {
	"subject": {"user_id": "t1", "role": "lrs_client", "class_ids": []},
	"credential": {"scopes": scopes, "class_id": class_id},
	"action": action,
	"resource": {},
}

user(role, action, about) := {
	"subject": {"user_id": "u1", "role": role, "class_ids": []},
	"action": action,
	"resource": {"about_user_id": about},
}

test_a_full_credential_reads_and_writes_all if {
	access.decision == {"allow": true, "reason": "allowed:all"} with input as client(["all"], null, "lrs.statements.read")
	access.decision.allow with input as client(["all"], null, "lrs.statements.write")
	access.decision.allow with input as client(["all"], null, "lrs.profile.write")
}

test_scopes_limit_a_credential if {
	access.decision == {"allow": false, "reason": "scope_missing"} with input as client(["statements/write"], null, "lrs.statements.read")
	not access.decision.allow with input as client(["all/read"], null, "lrs.statements.write")
	not access.decision.allow with input as client(["state"], null, "lrs.profile.read")
	access.decision.allow with input as client(["all/read"], null, "lrs.state.read")
}

test_read_mine_sees_only_its_own_statements if {
	access.decision.reason == "allowed:mine" with input as client(["statements/read/mine"], null, "lrs.statements.read")
}

test_a_teachers_credential_covers_her_class if {
	access.decision.reason == "allowed:class" with input as client(["all"], "c1", "lrs.statements.read")
}

test_a_student_reads_only_herself if {
	access.decision.reason == "allowed:self" with input as user("student", "lrs.statements.read", null)
	access.decision.reason == "allowed:class" with input as user("teacher", "lrs.statements.read", null)
	access.decision.reason == "allowed:all" with input as user("admin", "lrs.statements.read", null)
}

test_users_write_only_about_themselves if {
	access.decision.allow with input as user("student", "lrs.statements.write", "u1")
	access.decision == {"allow": false, "reason": "not_permitted"} with input as user("student", "lrs.statements.write", "u2")
	not access.decision.allow with input as user("analyst", "lrs.statements.read", null)
	not access.decision.allow with input as user("student", "lrs.state.write", null)
}

test_unknown_actions_are_invalid if {
	access.decision == {"allow": false, "reason": "invalid_input"} with input as client(["all"], null, "lrs.nothing")
}

document(class_id, action, about, about_classes) := {
	"subject": {"user_id": "t1", "role": "lrs_client", "class_ids": []},
	"credential": {"scopes": ["all"], "class_id": class_id},
	"action": action,
	"resource": {"about_user_id": about, "about_class_ids": about_classes},
}

test_a_teachers_credential_reaches_documents_of_her_class_only if {
	access.decision.allow with input as document("c1", "lrs.state.write", "s1", ["c1", "c2"])
	access.decision.allow with input as document("c1", "lrs.profile.read", "s1", ["c1"])
	access.decision == {"allow": false, "reason": "outside_class"} with input as document("c1", "lrs.state.read", "s2", ["c2"])
	access.decision == {"allow": false, "reason": "outside_class"} with input as document("c1", "lrs.profile.write", "s2", [])
	not access.decision.allow with input as document("c1", "lrs.state.write", "s2", null)
}

test_documents_without_a_platform_person_and_unbound_credentials if {
	# an activity profile, or an agent without an account: no platform user to protect
	access.decision.allow with input as document("c1", "lrs.profile.write", null, [])
	# an admin's credential is bound to no class
	access.decision.allow with input as document(null, "lrs.state.write", "s2", ["c2"])
	# statements stay governed by visibility, not by this check
	access.decision.reason == "allowed:class" with input as document("c1", "lrs.statements.read", "s2", [])
}

writing(class_id, people) := {
	"subject": {"user_id": "t1", "role": "lrs_client", "class_ids": []},
	"credential": {"scopes": ["all"], "class_id": class_id},
	"action": "lrs.statements.write",
	"resource": {"about_users": people},
}

test_a_teachers_credential_writes_statements_about_her_class_only if {
	# her students (a student may be in several classes), or no platform user at all
	access.decision == {"allow": true, "reason": "allowed:class"} with input as writing("c1", [{"user_id": "s1", "class_ids": ["c1", "c2"]}])
	access.decision.allow with input as writing("c1", [])
	# one platform user outside her class refuses the whole batch
	access.decision == {"allow": false, "reason": "outside_class"} with input as writing("c1", [
		{"user_id": "s1", "class_ids": ["c1"]},
		{"user_id": "s2", "class_ids": ["c2"]},
	])
	access.decision == {"allow": false, "reason": "outside_class"} with input as writing("c1", [{"user_id": "s3", "class_ids": []}])
}

test_an_unbound_credential_writes_about_anyone if {
	access.decision == {"allow": true, "reason": "allowed:all"} with input as writing(null, [{"user_id": "s2", "class_ids": ["c2"]}])
	# the scope check still comes first
	access.decision.reason == "scope_missing" with input as object.union(writing("c1", [{"user_id": "s2", "class_ids": []}]), {"credential": {"scopes": ["all/read"], "class_id": "c1"}})
}
