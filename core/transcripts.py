"""Retention of the tutor's transcripts (tutor.conversations with their turns, migration 0020).

Run daily by Dagster (`tutor_transcript_retention`); the lake keeps only the turns' text-free
events. Conversations idle longer than `settings.tutor.retention_days` go with their turns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from core.settings import Settings


def purge_expired_transcripts(settings: Settings, now: datetime | None = None) -> int:
    """Delete conversations whose last activity is older than the retention; returns how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.tutor.retention_days)
    with psycopg.connect(settings.database_url) as conn:
        cur = conn.execute(
            "delete from tutor.conversations where coalesce(last_turn_at, created_at) < %s",
            (cutoff,),
        )
        return cur.rowcount
