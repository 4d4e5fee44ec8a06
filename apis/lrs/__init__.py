"""The Learning Record Store: xAPI 1.0.3 at /xapi/ (statements, documents, activities, agents,
about) and the Basic credentials LRS clients use (/api/v1/lrs/credentials)."""
