# METADATA
# title: Consent for external models
# description: |
#   May text of this student leave for an external language model (the tutor's
#   OpenAI-compatible endpoint)? Only when the school allows external models
#   (privacy.school_settings.external_models_allowed) and the student, or her family through an
#   administrator, has not opted out (privacy.model_opt_outs). The facts come from PostgreSQL
#   (privacy.consent.consent_input); the tutor asks before every call and answers from retrieval
#   alone when refused.
#   Input: subject (the student or the service acting for her), action "tutor.model.send",
#   resource {"type": "consent", "id": <student id>, "owner_id": <student id>,
#   "school_allows_external_models": bool, "student_opted_out": bool}.
package dreamseed.tutor.consent

# METADATA
# description: The answer, {"allow": bool, "reason": str}.
# entrypoint: true
decision := {"allow": allow, "reason": reason}

# METADATA
# description: True only when every check passed.
default allow := false

allow if reason == "allowed"

# METADATA
# description: The first failing check, or "allowed".
default reason := "invalid_input"

reason := "invalid_input" if {
	not valid_input
} else := "school_disallows_external_models" if {
	not input.resource.school_allows_external_models
} else := "student_opted_out" if {
	input.resource.student_opted_out
} else := "allowed"

valid_input if {
	input.action == "tutor.model.send"
	is_boolean(input.resource.school_allows_external_models)
	is_boolean(input.resource.student_opted_out)
}
