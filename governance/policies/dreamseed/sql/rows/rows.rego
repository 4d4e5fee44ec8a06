# METADATA
# title: Analyst SQL door, row filter
# description: |
#   Which rows of input.table the subject may see, as a structured filter (never raw SQL):
#   {"mode": "all"} | {"mode": "none"} |
#   {"mode": "any", "conditions": [{"column": str, "values": [str]}]} (OR of column IN values).
package dreamseed.sql.rows

import data.dreamseed.common.tables

# METADATA
# description: The row filter; {"mode": "none"} for invalid input or unknown tables.
# entrypoint: true
default filter := {"mode": "none"}

filter := tables.row_filter(input.table) if is_string(input.table)
