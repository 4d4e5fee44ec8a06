"""core.db.AdvisoryLock against the real PostgreSQL: who holds it excludes others, and it ends
where it says (transaction locks at commit, session locks with their block)."""

from __future__ import annotations

import asyncio
import secrets

import psycopg

from core.db import AdvisoryLock, item_parameters_lock
from core.settings import Settings


def _free(settings: Settings, lock: AdvisoryLock) -> bool:
    """Whether another session can take `lock` right now (taken and given back at once)."""
    sql, params = lock.expression("pg_try_advisory_xact_lock")
    with psycopg.connect(settings.database_url) as other:
        row = other.execute(f"select {sql}", params).fetchone()
        assert row is not None
        return bool(row[0])


def test_a_session_lock_is_held_for_its_block_only(settings: Settings) -> None:
    lock = AdvisoryLock(f"test:{secrets.token_hex(4)}")
    with lock.on_own_connection(settings.database_url):
        assert not _free(settings, lock)
        assert _free(settings, AdvisoryLock(lock.name, seed=1)), "seeds name different locks"
    assert _free(settings, lock)


def test_a_numbered_session_lock_on_a_callers_connection(settings: Settings) -> None:
    lock = AdvisoryLock(secrets.randbelow(2**40))
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        with lock.session(conn):
            assert not _free(settings, lock)
        assert _free(settings, lock)


def test_a_transaction_lock_ends_with_the_transaction(settings: Settings) -> None:
    lock = item_parameters_lock(secrets.token_hex(4))
    with psycopg.connect(settings.database_url) as conn:
        with conn.transaction():
            lock.hold_sync(conn)
            assert not _free(settings, lock)
        assert _free(settings, lock)

    async def hold_async() -> bool:
        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            async with conn.transaction():
                await lock.hold(conn)
                held = not await asyncio.to_thread(_free, settings, lock)
            return held and await asyncio.to_thread(_free, settings, lock)

    assert asyncio.run(hold_async())
