# METADATA
# title: API authorization
# description: |
#   Decides every API request. Route level (input.resource null or absent): the role must list
#   the action in data.config.roles. Resource level: additionally the resource must be in one of
#   the role's scopes (data.config.scopes.resource): own, class, class_shared, aggregate, all.
package dreamseed.api.authz

import data.dreamseed.common.subject
import data.dreamseed.common.subject.class_ids
import data.dreamseed.common.subject.known_role
import data.dreamseed.common.subject.outside_access_hours
import data.dreamseed.common.subject.role
import data.dreamseed.common.subject.user_id

# METADATA
# description: The answer to the API guards, {"allow": bool, "reason": str}.
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
} else := "unknown_role" if {
	not known_role
} else := "action_not_permitted" if {
	not subject.permits(input.action)
} else := "outside_access_hours" if {
	outside_access_hours
} else := "resource_out_of_scope" if {
	resource != null
	not resource_in_scope
} else := "allowed"

# METADATA
# description: The resource, null for a route-level check.
default resource := null

resource := input.resource if is_object(input.resource)

valid_input if {
	is_object(input.subject)
	is_string(input.action)
	valid_resource
}

valid_resource if object.get(input, "resource", null) == null

valid_resource if is_object(input.resource)

# METADATA
# description: True when the resource is in one of the role's scopes.
resource_in_scope if {
	some scope in data.config.scopes.resource[role]
	in_scope(scope)
}

in_scope("all") := true

in_scope("own") if {
	is_string(resource.owner_id)
	resource.owner_id == user_id
}

in_scope("class") if {
	is_string(resource.class_id)
	resource.class_id in class_ids
}

in_scope("class_shared") if {
	resource.type in data.config.scopes.class_shared_types
	is_string(resource.class_id)
	resource.class_id in class_ids
}

in_scope("aggregate") if resource.type in data.config.scopes.aggregate_types
