"""The learning domain: housekeeping of media uploads (the orphan sweep)."""
