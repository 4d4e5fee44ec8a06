# METADATA
# title: Tests for data.dreamseed.tutor.consent
package dreamseed.tutor.consent_test

import data.dreamseed.tutor.consent

ask(school, opted_out) := {
	"subject": {"user_id": "s1", "role": "student", "class_ids": ["c1"]},
	"action": "tutor.model.send",
	"resource": {
		"type": "consent", "id": "s1", "owner_id": "s1",
		"school_allows_external_models": school, "student_opted_out": opted_out,
	},
}

test_allowed_when_school_allows_and_student_did_not_opt_out if {
	consent.decision == {"allow": true, "reason": "allowed"} with input as ask(true, false)
}

test_school_setting_closes_it_for_everyone if {
	consent.decision == {"allow": false, "reason": "school_disallows_external_models"} with input as ask(false, false)
	consent.decision == {"allow": false, "reason": "school_disallows_external_models"} with input as ask(false, true)
}

test_student_opt_out_is_respected if {
	consent.decision == {"allow": false, "reason": "student_opted_out"} with input as ask(true, true)
}

test_missing_facts_refuse if {
	consent.decision == {"allow": false, "reason": "invalid_input"} with input as {"action": "tutor.model.send", "resource": {}}
	consent.decision == {"allow": false, "reason": "invalid_input"} with input as ask("yes", false)
}
