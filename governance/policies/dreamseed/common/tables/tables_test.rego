# METADATA
# title: Tests for data.dreamseed.common.tables
package dreamseed.common.tables_test

import data.dreamseed.common.tables

test_classification_order if {
	tables.classification("users.accounts", "email") == "direct"
	tables.classification("exams.attempts", "display_name") == "direct"
	tables.classification("exams.attempts", "whatever") == "unclassified"
}

test_every_catalogue_column_uses_a_known_classification if {
	known := {c | some c, _ in data.config.masking.treatments.admin}
	every table in data.config.tables {
		every _, class in table.columns {
			class in known
		}
	}
}

test_every_role_has_a_treatment_for_every_classification if {
	some _, admin_treatments in {"a": data.config.masking.treatments.admin}
	every _, treatments in data.config.masking.treatments {
		every class, _ in admin_treatments {
			treatments[class] in {"clear", "pseudonymize", "redact", "drop"}
		}
	}
}

test_secrets_are_dropped_for_everyone if {
	every _, treatments in data.config.masking.treatments {
		treatments.secret == "drop"
	}
}
