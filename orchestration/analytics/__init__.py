"""The analytics domain: dbt marts in the `analytics` schema."""
