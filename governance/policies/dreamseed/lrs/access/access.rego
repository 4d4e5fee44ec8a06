# METADATA
# title: Learning Record Store access
# description: |
#   Decides every xAPI request (apis/lrs) once the caller is known. LRS clients (role
#   "lrs_client", HTTP Basic credentials) act within their credential's xAPI scopes
#   (input.credential.scopes); a credential a teacher issued covers her class only
#   (input.credential.class_id): its statements, and the State and Agent Profile documents of
#   its class's members (input.resource.about_class_ids, the classes of the platform user
#   input.resource.about_user_id a document is about; agents without an account are no
#   platform user's); it writes statements only about them: every platform user among the
#   statements' actors and their groups' members (input.resource.about_users, each with her
#   class_ids) must belong to its class; agents without an account stay allowed. Platform
#   users with a bearer token: an admin reads and writes all; a teacher reads her classes'
#   statements; a student reads only statements about herself; users write statements and
#   documents only about themselves (resource.about_user_id).
#   Allowed answers say what may be read: "allowed:all", "allowed:class", "allowed:self" or
#   "allowed:mine" (statements the credential itself wrote).
package dreamseed.lrs.access

import data.dreamseed.common.subject.role
import data.dreamseed.common.subject.user_id

# METADATA
# description: The answer to the LRS, {"allow": bool, "reason": str}.
# entrypoint: true
decision := {"allow": allow, "reason": reason}

# METADATA
# description: True only when a check allowed the request.
default allow := false

allow if startswith(reason, "allowed:")

# METADATA
# description: The first failing check, or "allowed:<what may be read>".
default reason := "invalid_input"

reason := "invalid_input" if {
	not valid_input
} else := "scope_missing" if {
	role == "lrs_client"
	not client_permitted
} else := "outside_class" if {
	role == "lrs_client"
	not within_class
} else := "not_permitted" if {
	role != "lrs_client"
	not user_permitted
} else := concat(":", ["allowed", visibility])

valid_input if {
	is_object(input.subject)
	is_string(input.action)
	input.action in object.keys(grants)
}

# Which xAPI scopes grant each action.
grants := {
	"lrs.statements.write": {"statements/write", "all"},
	"lrs.statements.read": {"statements/read", "statements/read/mine", "all/read", "all"},
	"lrs.state.read": {"state", "all/read", "all"},
	"lrs.state.write": {"state", "all"},
	"lrs.profile.read": {"profile", "all/read", "all"},
	"lrs.profile.write": {"profile", "all"},
	"lrs.definitions.read": {"define", "profile", "state", "statements/read", "all/read", "all"},
}

full_read := {"statements/read", "all/read", "all"}

scopes := input.credential.scopes if is_array(input.credential.scopes)

client_permitted if {
	some scope in scopes
	scope in grants[input.action]
}

class_bound if is_string(input.credential.class_id)

# Documents about a person (state, agent profiles).
document_actions := {"lrs.state.read", "lrs.state.write", "lrs.profile.read", "lrs.profile.write"}

# A class-bound credential reaches documents about its class's members only, and writes
# statements only about them (or about agents without a platform account).
within_class if not class_bound

within_class if {
	not input.action in document_actions
	input.action != "lrs.statements.write"
}

within_class if {
	input.action in document_actions
	not is_string(input.resource.about_user_id)
}

within_class if {
	input.action in document_actions
	input.credential.class_id in input.resource.about_class_ids
}

# The platform users the written statements' actors (and their groups' members) are, each with
# her classes: [{"user_id": str, "class_ids": [str]}]. Agents without an account are not listed.
default about_users := []

about_users := input.resource.about_users if is_array(input.resource.about_users)

within_class if {
	input.action == "lrs.statements.write"
	every person in about_users {
		input.credential.class_id in person.class_ids
	}
}

reads := {"lrs.statements.read"}

# METADATA
# description: What the caller may read ("all", "class", "self", "mine").
default visibility := "all"

visibility := "mine" if {
	role == "lrs_client"
	input.action in reads
	count({s | some s in scopes; s in full_read}) == 0
} else := "class" if {
	role == "lrs_client"
	class_bound
} else := "class" if {
	role == "teacher"
	input.action in reads
} else := "self" if {
	role == "student"
	input.action in reads
}

user_permitted if role == "admin"

user_permitted if {
	role in {"teacher", "student"}
	input.action in {"lrs.statements.read", "lrs.definitions.read"}
}

# Writes and documents: about herself only.
user_permitted if {
	role in {"teacher", "student"}
	input.action != "lrs.statements.read"
	input.resource.about_user_id == user_id
}
