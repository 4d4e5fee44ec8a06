"""Consent for external models: the school-wide setting and a student's opt-out, read from
PostgreSQL and decided by `data.dreamseed.tutor.consent.decision` before any text of hers leaves
for an external model.

For the tutor service (call before each request to the model endpoint; on a refusal, answer from
retrieval alone):

    facts = await consent_facts_async(conn, student_id)
    decision = await engine.decide(CONSENT_RULE, consent_input(subject, student_id, facts),
                                         action=CONSENT_ACTION, request_id=request_id)
    if not decision.allowed: ...   # decision.reason: school_disallows_external_models | student_opted_out

The decision goes to the decision log like every other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from governance.decision import Subject

CONSENT_RULE = "data.dreamseed.tutor.consent.decision"
CONSENT_ACTION = "tutor.model.send"

_FACTS_SQL = (
    "select coalesce((select external_models_allowed from privacy.school_settings), false),"
    " exists (select 1 from privacy.model_opt_outs where user_id::text = %s)"
)


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    school_allows_external_models: bool
    student_opted_out: bool


def consent_facts(conn: psycopg.Connection[Any], student_id: str) -> ConsentFacts:
    row = conn.execute(_FACTS_SQL, (student_id,)).fetchone()
    assert row is not None
    return ConsentFacts(bool(row[0]), bool(row[1]))


async def consent_facts_async(conn: psycopg.AsyncConnection[Any], student_id: str) -> ConsentFacts:
    cursor = await conn.execute(_FACTS_SQL, (student_id,))
    row = await cursor.fetchone()
    assert row is not None
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return ConsentFacts(bool(values[0]), bool(values[1]))


def consent_input(subject: Subject, student_id: str, facts: ConsentFacts) -> dict[str, Any]:
    return {
        "subject": subject.to_input(),
        "action": CONSENT_ACTION,
        "resource": {
            "type": "consent",
            "id": student_id,
            "owner_id": student_id,
            "class_id": None,
            "school_allows_external_models": facts.school_allows_external_models,
            "student_opted_out": facts.student_opted_out,
        },
    }


def set_school_setting(conn: psycopg.Connection[Any], allowed: bool) -> None:
    conn.execute(
        "update privacy.school_settings set external_models_allowed = %s, updated_at = now()",
        (allowed,),
    )


def set_opt_out(conn: psycopg.Connection[Any], student_id: str, opted_out: bool) -> None:
    if opted_out:
        conn.execute(
            "insert into privacy.model_opt_outs (user_id) values (%s) on conflict do nothing",
            (student_id,),
        )
    else:
        conn.execute("delete from privacy.model_opt_outs where user_id::text = %s", (student_id,))
