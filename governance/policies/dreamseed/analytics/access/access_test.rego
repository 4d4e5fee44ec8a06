# METADATA
# title: Tests for data.dreamseed.analytics.access
package dreamseed.analytics.access_test

import data.dreamseed.analytics.access

ask(role, uid, action, resource) := {
	"subject": {"user_id": uid, "role": role, "class_ids": []},
	"action": action,
	"resource": resource,
}

mine(student) := {"type": "student_progress", "student_id": student}

class(kind, teacher) := {"type": kind, "class_id": "c1", "class_teacher_id": teacher}

test_a_student_reads_her_own_progress_only if {
	access.decision == {"allow": true, "reason": "allowed"} with input as ask("student", "s1", "analytics.progress.read", mine("s1"))
	access.decision == {"allow": false, "reason": "not_her_own"} with input as ask("student", "s1", "analytics.progress.read", mine("s2"))
}

test_a_student_never_reads_a_class if {
	access.decision.reason == "not_her_class" with input as ask("student", "s1", "analytics.progress.read", class("class_progress", "t1"))
	not access.decision.allow with input as ask("student", "s1", "analytics.presence.read", class("class_presence", "t1"))
	not access.decision.allow with input as ask("student", "t1", "analytics.presence.read", class("class_presence", "t1"))
}

test_the_classes_teacher_reads_progress_and_presence if {
	access.decision.allow with input as ask("teacher", "t1", "analytics.progress.read", class("class_progress", "t1"))
	access.decision.allow with input as ask("teacher", "t1", "analytics.presence.read", class("class_presence", "t1"))
}

test_another_teacher_does_not if {
	access.decision == {"allow": false, "reason": "not_her_class"} with input as ask("teacher", "t2", "analytics.progress.read", class("class_progress", "t1"))
	not access.decision.allow with input as ask("teacher", "t2", "analytics.presence.read", class("class_presence", "t1"))
	not access.decision.allow with input as ask("teacher", "t2", "analytics.progress.read", mine("s1"))
}

test_an_admin_reads_everything if {
	access.decision.allow with input as ask("admin", "a1", "analytics.progress.read", mine("s1"))
	access.decision.allow with input as ask("admin", "a1", "analytics.progress.read", class("class_progress", "t1"))
	access.decision.allow with input as ask("admin", "a1", "analytics.presence.read", class("class_presence", "t1"))
}

test_analysts_and_services_read_nothing if {
	not access.decision.allow with input as ask("analyst", "x1", "analytics.progress.read", mine("x1"))
	not access.decision.allow with input as ask("service", "x1", "analytics.progress.read", class("class_progress", "t1"))
}

test_an_action_must_fit_the_resource if {
	access.decision.reason == "invalid_input" with input as ask("admin", "a1", "analytics.presence.read", mine("s1"))
	access.decision.reason == "invalid_input" with input as ask("teacher", "t1", "analytics.progress.read", class("class_presence", "t1"))
	access.decision.reason == "invalid_input" with input as {"subject": {"role": "admin"}, "action": "analytics.progress.read"}
}
