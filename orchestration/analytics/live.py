"""`live_analytics_match_marts`: the live learner analytics (schema `live`, kept by the analytics
event consumer) agree with the dbt marts they mirror, within a tolerance.

The live figures start when the consumer's group was made (a new group reads new events only),
so the comparison covers what the live side knows: every class with a live summary, and every
(student, class) with live skill evidence. For those:
- `agg_class_performance`: attempts_completed and active_students equal, mean_score_pct within
  `TOLERANCE` (the mart rounds each attempt's fraction to 4 places);
- `fct_student_skill_mastery` (students by pseudonymous key: the live ids are hashed with the
  lake's key to find their rows): the same skills, with equal response and correct counts and
  mastery estimates within `TOLERANCE`.
Run it when the lake has caught up with the events (nightly; the marts read the lake), or an
event that the consumer saw and the lake has not yet ingested shows up as a disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from lake.pseudonym import Pseudonymizer

TOLERANCE: Final = 1e-3
SHOWN: Final = 20  # disagreements listed in the check's metadata

_CLASSES = """
select l.class_id::text, l.attempts_completed as live_attempts, l.active_students as live_active,
       case when l.scored_attempts > 0 then l.score_pct_sum / l.scored_attempts end as live_mean,
       m.class_id is not null as in_mart, m.attempts_completed as mart_attempts,
       m.active_students as mart_active, m.mean_score_pct::float8 as mart_mean
from live.class_summaries l
left join analytics.agg_class_performance m on m.class_id = l.class_id
"""

# The live side knows students by id, the marts (from the lake) by pseudonymous key: `live_keys`
# (a temporary table filled by `compare` with the HMAC of each live student id) joins the two.
_SKILLS = """
with pairs as (
    select distinct s.student_id, k.student_key, s.class_id
    from live.skill_mastery s join live_keys k on k.student_id = s.student_id::text
),
mart as (
    select p.student_id, m.* from analytics.fct_student_skill_mastery m
    join pairs p on p.student_key = m.student_key and p.class_id is not distinct from m.class_id
)
select coalesce(l.student_id, mart.student_id)::text as student_id,
       coalesce(l.class_id, mart.class_id)::text as class_id,
       coalesce(l.skill, mart.skill) as skill,
       l.response_count as live_n, l.correct_count as live_correct,
       (l.correct_count + 1)::float8 / (l.response_count + 2) as live_mastery,
       mart.response_count as mart_n, mart.correct_count as mart_correct,
       mart.mastery_estimate::float8 as mart_mastery
from live.skill_mastery l
full join mart on mart.student_id = l.student_id
    and mart.class_id is not distinct from l.class_id and mart.skill = l.skill
"""


@dataclass
class Comparison:
    classes: int = 0
    skill_rows: int = 0
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.disagreements


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= TOLERANCE


def compare(database_url: str, pseudonym_key: str) -> Comparison:
    """Live figures against the marts, in one snapshot of the database. `pseudonym_key`: the
    lake's key (settings.pseudonym_key), to find a live student's rows in the marts."""
    out = Comparison()
    key = Pseudonymizer(pseudonym_key)
    with psycopg.connect(database_url, row_factory=dict_row) as conn, conn.transaction():
        conn.execute("set transaction isolation level repeatable read")
        students = conn.execute(
            "select distinct student_id::text as student_id from live.skill_mastery"
        ).fetchall()
        conn.execute(
            "create temporary table live_keys (student_id text primary key, student_key text)"
            " on commit drop"
        )
        with conn.cursor().copy("copy live_keys (student_id, student_key) from stdin") as copy:
            for r in students:
                copy.write_row((r["student_id"], key(r["student_id"])))
        for r in conn.execute(_CLASSES).fetchall():
            out.classes += 1
            if not r["in_mart"]:
                out.disagreements.append({"class_id": r["class_id"], "why": "class not in mart"})
            elif (
                r["live_attempts"] != r["mart_attempts"]
                or r["live_active"] != r["mart_active"]
                or not _close(r["live_mean"], r["mart_mean"])
            ):
                out.disagreements.append({"why": "class figures differ", **_plain(r)})
        for r in conn.execute(_SKILLS).fetchall():
            out.skill_rows += 1
            if r["live_n"] is None or r["mart_n"] is None:
                side = "live" if r["live_n"] is None else "mart"
                out.disagreements.append({"why": f"skill row missing in {side}", **_plain(r)})
            elif (
                r["live_n"] != r["mart_n"]
                or r["live_correct"] != r["mart_correct"]
                or not _close(r["live_mastery"], r["mart_mastery"])
            ):
                out.disagreements.append({"why": "skill figures differ", **_plain(r)})
    return out


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in row.items()}
