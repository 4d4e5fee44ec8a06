# METADATA
# title: Table catalogue helpers
# description: |
#   Column classification (data.config.tables, data.config.masking.column_name_rules) and the
#   structured row filter shared by the SQL door and the dashboards.
package dreamseed.common.tables

import data.dreamseed.common.subject.class_ids
import data.dreamseed.common.subject.role
import data.dreamseed.common.subject.user_id
import data.dreamseed.common.subject.user_key

# METADATA
# description: True when the table is registered in data.config.tables.
known(table) if data.config.tables[table]

# METADATA
# description: |
#   Classification of a column: the catalogue entry, else the column-name rule,
#   else "unclassified".
classification(table, column) := class if {
	class := data.config.tables[table].columns[column]
} else := class if {
	class := data.config.masking.column_name_rules[column]
} else := "unclassified"

# METADATA
# description: |
#   Row filter for the subject over a table: {"mode": "all"} | {"mode": "none"} |
#   {"mode": "any", "conditions": [{"column": c, "values": [v, ...]}, ...]} (OR of IN-lists).
row_filter(table) := {"mode": "all"} if {
	known(table)
	"all" in data.config.scopes.rows[role]
} else := {"mode": "any", "conditions": conditions} if {
	known(table)
	conditions := row_conditions(table)
	count(conditions) > 0
} else := {"mode": "none"}

row_conditions(table) := [condition |
	some scope in data.config.scopes.rows[role]
	some condition in scope_condition(table, scope)
]

scope_condition(table, "own") := [{"column": data.config.tables[table].subject_columns.own, "values": [user_id]}]

# A table that knows people only by pseudonymous key (marts built from the lake): "own" matches
# the subject's key, which the caller computed (no key in the input: no own rows).
scope_condition(table, "own") := [{"column": data.config.tables[table].subject_columns.own_key, "values": [user_key]}]

scope_condition(table, "class") := [{"column": data.config.tables[table].subject_columns.class, "values": class_ids}] if {
	count(class_ids) > 0
}
