# METADATA
# title: Analyst SQL door, column masking
# description: |
#   Per requested column one treatment: "clear" | "pseudonymize" | "redact" | "drop".
#   The column's classification (data.config.tables, else data.config.masking.column_name_rules,
#   else "unclassified") is looked up in data.config.masking.treatments[role]; anything unknown
#   (role, table, classification) is "drop".
package dreamseed.sql.masking

import data.dreamseed.common.subject.role
import data.dreamseed.common.tables

# METADATA
# description: Object column name -> treatment, one entry per input.columns element.
# entrypoint: true
columns[column] := treatment(column) if {
	some column in input.columns
	is_string(column)
}

# METADATA
# description: Treatment for one column of input.table for the subject's role.
treatment(column) := value if {
	tables.known(input.table)
	value := data.config.masking.treatments[role][tables.classification(input.table, column)]
} else := "drop"
