"""Consent for external models: the school's setting and a student's opt-out, stored in
PostgreSQL and decided by the tutor consent policy (what the tutor asks before text leaves)."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from core.settings import Settings
from governance import LocalEngine, Subject
from privacy.consent import (
    CONSENT_ACTION,
    CONSENT_RULE,
    consent_facts,
    consent_input,
    set_opt_out,
    set_school_setting,
)

pytestmark = pytest.mark.integration


def _decide(settings: Settings, student_id: str) -> tuple[bool, str]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        facts = consent_facts(conn, student_id)
    subject = Subject(student_id, "student", ())
    decision = asyncio.run(
        LocalEngine().decide(
            CONSENT_RULE, consent_input(subject, student_id, facts), action=CONSENT_ACTION
        )
    )
    return decision.allowed, decision.reason


def _student(settings: Settings) -> str:
    user_id = str(uuid.uuid4())
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'Consent Test', 'student', '!')",
            (user_id, f"{user_id}@consent.test"),
        )
    return user_id


def test_school_setting_and_opt_out_decide(settings: Settings) -> None:
    student = _student(settings)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_school_setting(conn, False)  # as the migrations leave it: no external models
    assert _decide(settings, student) == (False, "school_disallows_external_models")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_school_setting(conn, True)
    assert _decide(settings, student) == (True, "allowed")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_opt_out(conn, student, True)
        set_opt_out(conn, student, True)  # idempotent
    assert _decide(settings, student) == (False, "student_opted_out")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_school_setting(conn, False)
    try:
        assert _decide(settings, student) == (False, "school_disallows_external_models")
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            set_opt_out(conn, student, False)
        assert _decide(settings, student) == (False, "school_disallows_external_models")
    finally:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            set_school_setting(conn, True)
    assert _decide(settings, student) == (True, "allowed")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_school_setting(conn, False)  # back to the migrations' default for later tests


def test_the_school_default_is_no_external_models(settings: Settings) -> None:
    """Migration 0029: nothing leaves for an external model until an administrator allows it."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute(
            "select column_default from information_schema.columns where table_schema = 'privacy'"
            " and table_name = 'school_settings' and column_name = 'external_models_allowed'"
        ).fetchone()
    assert row is not None and row[0] == "false"
