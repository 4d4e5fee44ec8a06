"""Automated test assembly for teachers: a fixed form built by the MILP assembler
(psychometrics.assembly; van der Linden 2005) from the teacher's calibrated items, created as
an exam with how it was built (`exams.exams.assembly`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from apis.exams import adaptive, queries
from apis.exams.schemas import AssembledExam, AssembleRequest, AssemblyReport
from apis.exams.services import created
from apis.state import AppState
from core.errors import InvalidInput, NotFound, ServiceUnavailable
from core.ids import new_id
from psychometrics.assembly import AssemblySpec, InfeasibleAssembly, assemble

SOLVER_SECONDS = 20.0  # a request never holds a worker longer than this


async def calibrated_item_ids(conn: queries.Conn, owner_id: str) -> list[str]:
    """The owner's items that are not retired and have live IRT parameters (default pool)."""
    cur = await conn.execute(
        "select i.item_id::text from content.items i join content.item_parameters p"
        " on p.item_id = i.item_id and p.is_live where i.owner_id = %s and i.status <> 'retired'"
        " order by i.item_id limit 5000",
        (owner_id,),
    )
    return [r["item_id"] for r in await cur.fetchall()]


async def exposure_rates(
    conn: queries.Conn, owner_id: str, item_ids: list[str]
) -> dict[str, float]:
    """Share of the attempts at the owner's exams that answered each item (absent: 0)."""
    cur = await conn.execute(
        "with mine as (select t.attempt_id from exams.attempts t join exams.exams e"
        " using (exam_id) where e.owner_id = %s),"
        " total as (select count(*)::float8 as n from mine)"
        " select r.item_id::text, count(distinct r.attempt_id) / nullif(total.n, 0) as rate"
        " from exams.responses r join mine using (attempt_id), total"
        " where r.item_id = any(%s::uuid[]) group by r.item_id, total.n",
        (owner_id, item_ids),
    )
    return {r["item_id"]: float(r["rate"] or 0.0) for r in await cur.fetchall()}


def _fits(c: queries.PoolCandidate) -> bool:
    """Live parameters with the item's number of score categories (as fixed forms score)."""
    p = c.params()
    k = c.n_options - 1 if c.scoring == "graded" else 1
    return p is not None and c.status != "retired" and len(p.d) == k


def _field(err: InfeasibleAssembly) -> str:
    if err.constraint.startswith("skill:"):
        return "blueprint." + err.constraint.split(":", 1)[1]
    return {"length": "length", "enemies": "enemies", "exposure": "max_exposure"}.get(
        err.constraint, err.constraint
    )


def _spec(data: AssembleRequest, pool: list[queries.PoolCandidate]) -> AssemblySpec:
    if data.target is not None and len(data.target) != len(data.theta):
        raise InvalidInput("target: give one value per theta point")
    for skill, want in data.blueprint.items():
        if want.min > want.max:
            raise InvalidInput(f"blueprint.{skill}: min must not exceed max")
    where = {c.item_id: j for j, c in enumerate(pool)}
    # Enemy items outside the pool cannot be chosen anyway.
    enemies = [[where[str(i)] for i in group if str(i) in where] for group in data.enemies]
    return AssemblySpec(
        length=data.length,
        theta=data.theta,
        target=data.target,
        blueprint={s: (w.min, w.max) for s, w in data.blueprint.items()},
        enemies=[e for e in enemies if len(e) > 1],
        max_exposure=data.max_exposure,
        time_limit=SOLVER_SECONDS,
    )


async def assemble_exam(state: AppState, owner_id: str, data: AssembleRequest) -> AssembledExam:
    """Solve the assembly on the caller's pool and create the exam (easiest item first) with
    its ExamCreated event and the assembly report, in one transaction."""
    class_id = str(data.class_id) if data.class_id else None
    async with state.pool.connection() as conn:
        await queries.ensure_teaches(conn, owner_id, class_id)
        if data.item_ids is not None:
            ids = list(dict.fromkeys(str(i) for i in data.item_ids))
        else:
            ids = await calibrated_item_ids(conn, owner_id)
        candidates = await queries.pool_candidates(conn, owner_id, ids)
        missing = sorted(set(ids) - {c.item_id for c in candidates})
        if missing:
            raise NotFound("these items do not exist in your bank: " + ", ".join(missing))
        pool = [c for c in candidates if _fits(c)]
        if not pool:
            raise InvalidInput("item_ids: none of these items has live IRT parameters")
        rates = None
        if data.max_exposure is not None:
            found = await exposure_rates(conn, owner_id, [c.item_id for c in pool])
            rates = [found.get(c.item_id, 0.0) for c in pool]
    items = adaptive.item_parameters([c.params() for c in pool], [c.n_options for c in pool])
    skills = [tuple(c.skills) for c in pool]
    try:
        form = await asyncio.to_thread(assemble, items, skills, _spec(data, pool), rates)
    except InfeasibleAssembly as err:
        raise InvalidInput(f"{_field(err)}: cannot be met: {err}") from err
    except TimeoutError as err:
        raise ServiceUnavailable(f"assembly: {err}; relax the blueprint or the target") from err
    except ValueError as err:
        raise InvalidInput(str(err)) from err
    order = sorted(form.selected.tolist(), key=lambda j: float(items.b[j, 0]))
    chosen = [pool[j] for j in order]
    over_cap = sum(
        1 for r in rates or [] if data.max_exposure is not None and r > data.max_exposure
    )
    report = AssemblyReport(
        **{k: v for k, v in form.to_dict().items()},
        candidates=len(pool),
        over_exposure_cap=over_cap,
    )
    async with state.pool.connection() as conn, conn.transaction():
        exam = await queries.insert_exam(
            conn,
            exam_id=str(new_id()),
            owner_id=owner_id,
            class_id=class_id,
            title=data.title,
            kind="fixed",
            item_ids=[c.item_id for c in chosen],
            versions=[c.version for c in chosen],
            config={"time_limit_seconds": data.time_limit_seconds}
            if data.time_limit_seconds
            else None,
        )
        await conn.execute(
            "update exams.exams set assembly = %s::jsonb where exam_id = %s",
            (json.dumps(_provenance(data, report)), exam.exam_id),
        )
        return AssembledExam(exam=await created(conn, exam), assembly=report)


def _provenance(data: AssembleRequest, report: AssemblyReport) -> dict[str, Any]:
    """What the exam keeps: the request's constraints and the solver's report."""
    return {
        "length": data.length,
        "blueprint": {s: [w.min, w.max] for s, w in data.blueprint.items()},
        "enemies": [[str(i) for i in group] for group in data.enemies],
        "max_exposure": data.max_exposure,
        "pool": "given" if data.item_ids is not None else "all calibrated items",
        "report": {f: getattr(report, f) for f in report.__struct_fields__},
    }
