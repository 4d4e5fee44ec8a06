# METADATA
# title: Dashboard row filter
# description: |
#   Which rows of the page's dataset (data.config.dashboards.pages[page].dataset) the subject may
#   see; same structured filter as data.dreamseed.sql.rows.filter. {"mode": "none"} when the page
#   itself is denied (data.dreamseed.dashboards.access), unknown, or has no dataset.
package dreamseed.dashboards.rows

import data.dreamseed.common.tables
import data.dreamseed.dashboards.access.allow

# METADATA
# description: The row filter for input.page.
# entrypoint: true
default filter := {"mode": "none"}

filter := tables.row_filter(dataset) if {
	allow
	is_string(dataset)
}

# METADATA
# description: The dataset behind input.page.
dataset := data.config.dashboards.pages[input.page].dataset
