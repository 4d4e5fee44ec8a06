"""Privacy in Dagster: open export/erasure requests run as jobs; retention runs daily."""
