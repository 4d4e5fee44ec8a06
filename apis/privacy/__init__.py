"""The privacy service: administrators request subject exports and erasures, follow their
progress and fetch a finished export's short-lived download link. The requests are rows of
`privacy.requests`; the Dagster sensor `privacy_requests_sensor` (or `dreamseed privacy resume`)
runs them with the `privacy` library."""
