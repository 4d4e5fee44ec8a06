"""The lake domain: bronze Iceberg tables fed from the outbox."""
