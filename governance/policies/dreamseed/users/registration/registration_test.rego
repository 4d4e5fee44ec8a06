# METADATA
# title: Tests for data.dreamseed.users.registration
package dreamseed.users.registration_test

import data.dreamseed.users.registration

register(role, domain) := {
	"subject": {"user_id": null, "role": "anonymous", "class_ids": []},
	"action": "users.account.create",
	"resource": {"type": "account", "id": "", "role": role, "email_domain": domain},
}

closed := {"teacher_self_registration": "nobody", "teacher_email_domains": []}

schools := {"teacher_self_registration": "domains", "teacher_email_domains": ["School.Example", "b.test"]}

test_students_always_register if {
	registration.decision.allow with input as register("student", "x.test")
	registration.decision.allow with input as register("student", "x.test")
		with data.config.registration as closed
}

test_anyone_may_register_as_teacher_by_default if {
	registration.decision == {"allow": true, "reason": "allowed"} with input as register("teacher", "x.test")
		with data.config.registration as {"teacher_self_registration": "anyone"}
}

test_nobody_closes_teacher_registration if {
	registration.decision == {"allow": false, "reason": "teacher_registration_closed"} with input as register("teacher", "x.test")
		with data.config.registration as closed
}

test_listed_domains_only if {
	registration.decision.allow with input as register("teacher", "school.example")
		with data.config.registration as schools
	registration.decision.allow with input as register("teacher", "B.TEST")
		with data.config.registration as schools
	registration.decision.reason == "teacher_registration_closed" with input as register("teacher", "evil.example")
		with data.config.registration as schools
	registration.decision.reason == "teacher_registration_closed" with input as register("teacher", "sub.school.example")
		with data.config.registration as schools
}

test_missing_or_unknown_setting_closes_it if {
	registration.decision.reason == "teacher_registration_closed" with input as register("teacher", "x.test")
		with data.config.registration as {}
	registration.decision.reason == "teacher_registration_closed" with input as register("teacher", "x.test")
		with data.config.registration as {"teacher_self_registration": "any"}
}

test_other_roles_never_self_register if {
	registration.decision.reason == "role_not_self_registrable" with input as register("admin", "x.test")
	registration.decision.reason == "role_not_self_registrable" with input as register("analyst", "x.test")
}

test_fails_closed_on_bad_input if {
	registration.decision == {"allow": false, "reason": "invalid_input"} with input as {"subject": {"role": "anonymous"}}
	registration.decision.reason == "invalid_input" with input as register(1, "x.test")
}

test_needs_the_anonymous_permission if {
	registration.decision.reason == "action_not_permitted" with input as register("student", "x.test")
		with data.config.roles.anonymous as []
}
