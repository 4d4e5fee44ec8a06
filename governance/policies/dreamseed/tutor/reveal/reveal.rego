# METADATA
# title: Tutor answer reveal
# description: |
#   May the tutor reveal the answer to an item now? Never while the subject has an active exam
#   attempt containing that item (input.context.active_exam_item_ids). With
#   data.config.tutor.block_all_reveals_during_exam, no answer at all while any exam is active;
#   likewise when the class's teacher set the tutor off during exams
#   (input.context.class_mode == "off_during_exams"). The tutor service asks it for every turn
#   (resource: the conversation), before an item enters its context (resource: the item) and
#   before that item's answer key does (resource type "answer_key"): in a class set to
#   "hints_only" the key never does, so neither the model nor the fallback can hand it out.
package dreamseed.tutor.reveal

import data.dreamseed.common.subject
import data.dreamseed.common.subject.known_role
import data.dreamseed.common.subject.outside_access_hours

# METADATA
# description: The answer to the tutor, {"allow": bool, "reason": str}.
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
	not subject.permits("tutor.answer.reveal")
} else := "outside_access_hours" if {
	outside_access_hours
} else := "tutor_off_during_exam" if {
	object.get(input.context, "class_mode", "") == "off_during_exams"
	count(active_exam_item_ids) > 0
} else := "active_exam_item" if {
	input.resource.id in active_exam_item_ids
} else := "exam_in_progress" if {
	data.config.tutor.block_all_reveals_during_exam == true
	count(active_exam_item_ids) > 0
} else := "hints_only" if {
	object.get(input.context, "class_mode", "") == "hints_only"
	object.get(input.resource, "type", "") == "answer_key"
} else := "allowed"

# METADATA
# description: Items of the exams the subject is taking right now (required, may be empty).
active_exam_item_ids := input.context.active_exam_item_ids

valid_input if {
	is_object(input.subject)
	is_string(input.resource.id)
	is_array(input.context.active_exam_item_ids)
}
