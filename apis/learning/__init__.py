"""The learning service: courses, units and lessons, media on S3, learning records (xAPI)."""
