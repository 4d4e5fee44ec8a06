# METADATA
# title: Tests for data.dreamseed.tutor.reveal
package dreamseed.tutor.reveal_test

import data.dreamseed.tutor.reveal

student := {"user_id": "s1", "role": "student", "class_ids": ["c1"]}

ask(subject, item, active) := {
	"subject": subject,
	"action": "tutor.answer.reveal",
	"resource": {"type": "item", "id": item, "owner_id": null, "class_id": null},
	"context": {"now": "2024-04-29T10:00:00Z", "active_exam_item_ids": active, "request_id": "r"},
}

test_reveal_allowed_without_active_exam if {
	reveal.decision == {"allow": true, "reason": "allowed"} with input as ask(student, "i1", [])
}

test_reveal_denied_for_item_of_active_exam if {
	reveal.decision == {"allow": false, "reason": "active_exam_item"} with input as ask(student, "i1", ["i0", "i1"])
}

test_reveal_allowed_for_other_item_during_exam if {
	reveal.decision.allow with input as ask(student, "i9", ["i0", "i1"])
}

test_reveal_blocked_entirely_when_configured if {
	reveal.decision.reason == "exam_in_progress" with input as ask(student, "i9", ["i0"])
		with data.config.tutor.block_all_reveals_during_exam as true
	reveal.decision.allow with input as ask(student, "i9", [])
		with data.config.tutor.block_all_reveals_during_exam as true
}

test_reveal_needs_permission if {
	reveal.decision.reason == "action_not_permitted" with input as ask({"user_id": "a", "role": "analyst"}, "i1", [])
	reveal.decision.reason == "unknown_role" with input as ask({"user_id": "a", "role": "nobody"}, "i1", [])
}

test_reveal_fails_closed_on_missing_exam_context if {
	reveal.decision == {"allow": false, "reason": "invalid_input"} with input as {"subject": student, "resource": {"id": "i1"}}
	reveal.decision.reason == "invalid_input" with input as {"subject": student, "resource": {"id": "i1"}, "context": {"active_exam_item_ids": "i1"}}
}

test_reveal_respects_access_hours if {
	reveal.decision.reason == "outside_access_hours" with input as ask(student, "i1", [])
		with data.config.access_hours as {"enabled": true, "timezone": "UTC", "windows": {"student": {"weekdays": [], "start_hour": 0, "end_hour": 24}}}
}

ask_in_class(subject, item, active, mode) := object.union(
	ask(subject, item, active),
	{"context": {"now": "2024-04-29T10:00:00Z", "active_exam_item_ids": active, "class_mode": mode}},
)

test_tutor_off_during_exam_when_the_class_says_so if {
	reveal.decision.reason == "tutor_off_during_exam" with input as ask_in_class(student, "conv", ["i0"], "off_during_exams")
	reveal.decision.allow with input as ask_in_class(student, "conv", [], "off_during_exams")
	reveal.decision.allow with input as ask_in_class(student, "conv", ["i0"], "open")
	reveal.decision.reason == "active_exam_item" with input as ask_in_class(student, "i0", ["i0"], "open")
}

ask_key(item, mode) := object.union(
	ask_in_class(student, item, [], mode),
	{"resource": {"type": "answer_key", "id": item, "owner_id": null, "class_id": null}},
)

test_hints_only_keeps_the_answer_key_out if {
	reveal.decision == {"allow": false, "reason": "hints_only"} with input as ask_key("i1", "hints_only")
	reveal.decision.allow with input as ask_key("i1", "open")
	reveal.decision.allow with input as ask_key("i1", "off_during_exams")
	# the item itself (stem, options, her answer) may still be discussed in hints_only
	reveal.decision.allow with input as ask_in_class(student, "i1", [], "hints_only")
}
