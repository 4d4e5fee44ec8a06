"""Setting exams (fixed-form and adaptive) and reading one. (Attempts: `delivery`.)"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from apis.exams import adaptive, queries
from apis.exams.schemas import AdaptiveConfig, CreateExamRequest, Exam
from apis.state import AppState
from core import outbox
from core.errors import InvalidInput, NotFound
from core.events import ExamCreatedV1
from core.ids import new_id
from psychometrics import CATConfig


def _distinct(item_ids: list[str]) -> list[str]:
    if len(set(item_ids)) != len(item_ids):
        raise InvalidInput("item_ids contains the same item twice")
    return item_ids


def _exposure_target(config: dict[str, Any] | None) -> float | None:
    """The adaptive exam's exposure target (its Sympson-Hetter max_rate), if it has one."""
    exposure = (config or {}).get("exposure")
    rate = exposure.get("max_rate") if isinstance(exposure, dict) else None
    return float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else None


async def created(conn: queries.Conn, exam: Exam) -> Exam:
    """Announce a new exam (`exams.exam.created.v1`) in the caller's transaction."""
    await outbox.append(
        conn,
        ExamCreatedV1(
            exam_id=exam.exam_id,
            owner_id=exam.owner_id,
            class_id=exam.class_id,
            item_count=len(exam.item_ids),
            created_at=exam.created_at,
            kind=exam.kind,
            title=exam.title,
            exposure_max_rate=_exposure_target(exam.config),
        ),
    )
    return exam


async def create_exam(
    state: AppState,
    owner_id: str,
    title: str,
    item_ids: list[str],
    class_id: str | None,
    time_limit_seconds: int | None = None,
) -> Exam:
    """A fixed-form exam: these items in this order, at their current versions."""
    _distinct(item_ids)
    async with state.pool.connection() as conn, conn.transaction():
        await queries.ensure_teaches(conn, owner_id, class_id)
        versions = await queries.usable_versions(conn, owner_id, item_ids)
        missing = [i for i in item_ids if i not in versions]
        if missing:
            raise NotFound(
                "these items do not exist in your bank or are retired: " + ", ".join(missing)
            )
        exam = await queries.insert_exam(
            conn,
            exam_id=str(new_id()),
            owner_id=owner_id,
            class_id=class_id,
            title=title,
            kind="fixed",
            item_ids=item_ids,
            versions=[versions[i] for i in item_ids],
            config={"time_limit_seconds": time_limit_seconds} if time_limit_seconds else None,
        )
        return await created(conn, exam)


async def create_adaptive_exam(state: AppState, owner_id: str, data: CreateExamRequest) -> Exam:
    """An adaptive exam: the items are its pool; its settings become a CAT configuration (with
    Sympson–Hetter exposure parameters fitted by simulation when asked for)."""
    item_ids = _distinct([str(i) for i in data.item_ids])
    settings: dict[str, Any] = msgspec.to_builtins(data.adaptive or AdaptiveConfig())
    if data.time_limit_seconds is not None:
        if settings.get("time_limit_seconds") not in (None, data.time_limit_seconds):
            raise InvalidInput(
                "time_limit_seconds is set twice with different values (at the top level and "
                "in adaptive); set it once"
            )
        settings["time_limit_seconds"] = data.time_limit_seconds
    class_id = str(data.class_id) if data.class_id else None
    async with state.pool.connection() as conn:
        await queries.ensure_teaches(conn, owner_id, class_id)
        candidates = await queries.pool_candidates(conn, owner_id, item_ids)
        found = {c.item_id for c in candidates}
        missing = [i for i in item_ids if i not in found]
        if missing:
            raise NotFound("these items do not exist in your bank: " + ", ".join(missing))
        pool = [
            adaptive.PoolItem(
                c.item_id, c.status, tuple(c.skills), c.n_options, c.scoring, c.has_params
            )
            for c in candidates
        ]
        cat = adaptive.build_cat_config(settings, pool)
        if settings["exposure"]["method"] == "sympson-hetter":
            items = adaptive.item_parameters(
                [c.params() for c in candidates], [c.n_options for c in candidates]
            )
            sh = await asyncio.to_thread(
                adaptive.sympson_hetter_parameters, items, cat, settings["exposure"]["max_rate"]
            )
            cat = CATConfig.from_dict({**cat.to_dict(), "sh_parameters": list(sh)})
        async with conn.transaction():
            exam = await queries.insert_exam(
                conn,
                exam_id=str(new_id()),
                owner_id=owner_id,
                class_id=class_id,
                title=data.title,
                kind="adaptive",
                item_ids=item_ids,
                versions=[c.version for c in candidates],
                config={**settings, "cat": cat.to_dict()},
            )
            return await created(conn, exam)


async def list_exams(state: AppState, user_id: str, role: str) -> list[Exam]:
    """A student's available exams (her classes'), without item lists; anyone else's own."""
    async with state.pool.connection() as conn:
        exams = await queries.listed_exams(conn, user_id, member=role == "student")
    if role == "student":
        for exam in exams:
            exam.item_ids = []
    return exams


async def get_exam(state: AppState, exam_id: str) -> Exam:
    async with state.pool.connection() as conn:
        return await queries.exam(conn, exam_id)
