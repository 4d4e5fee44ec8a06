# METADATA
# title: Self-registration
# description: |
#   May an anonymous caller register an account of this role (POST /api/v1/auth/register)?
#   Students: always. Teachers: as data.config.registration.teacher_self_registration says:
#   "anyone", "nobody", or "domains" (the e-mail's domain must be one of
#   data.config.registration.teacher_email_domains, compared case-insensitively; a missing or
#   unknown setting closes it). Any other role: never (an administrator creates those).
#   Input: subject (anonymous), action "users.account.create",
#   resource {"type": "account", "role": <role>, "email_domain": <domain>}.
package dreamseed.users.registration

import data.dreamseed.common.subject

# METADATA
# description: The answer to the register route, {"allow": bool, "reason": str}.
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
} else := "action_not_permitted" if {
	not subject.permits("users.account.create")
} else := "role_not_self_registrable" if {
	not input.resource.role in {"student", "teacher"}
} else := "teacher_registration_closed" if {
	input.resource.role == "teacher"
	not teacher_may_register
} else := "allowed"

valid_input if {
	is_string(input.resource.role)
	is_string(input.resource.email_domain)
}

# METADATA
# description: The configured teacher self-registration ("anyone", "nobody" or "domains").
default teacher_policy := "nobody"

teacher_policy := data.config.registration.teacher_self_registration if {
	is_string(data.config.registration.teacher_self_registration)
}

teacher_may_register if teacher_policy == "anyone"

teacher_may_register if {
	teacher_policy == "domains"
	some domain in data.config.registration.teacher_email_domains
	lower(domain) == lower(input.resource.email_domain)
}
