"""Adaptive delivery: start → next item → answer → … → finish → result, stateless across replicas.

PostgreSQL is the truth: the attempt row (locked while it changes) holds the position and the item
being asked; `exams.responses` and `exams.selections` hold every answer and every selection with
its seed, rule and reason. Each answer, the next selection and their outbox events commit in one
transaction before the next item is returned. Redis holds only a cache of the CAT state (keyed by
attempt id and validated against the attempt's position); when it is missing, stale or Redis is
unreachable the state is rebuilt from PostgreSQL. Immutable things (exam + pinned item versions,
CAT banks per parameter set) are cached in process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation

from apis.exams import adaptive, cat_cache, fixed, recording, rules, services
from apis.exams.lru import Lru
from apis.exams.rules import GRACE, STUDENT_FINISH_REASON, TIME_LIMIT_REASON, expired
from apis.exams.schemas import (
    AnswerReply,
    AnswerRequest,
    Attempt,
    CreateExamRequest,
    Exam,
    ExamItem,
    ItemReport,
    ItemReportRow,
    Replay,
    Response,
    Result,
    Selection,
    SkillScore,
)
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.gateway.timing import stage
from apis.state import AppState
from core import outbox
from core.errors import Conflict, InvalidInput, NotFound
from core.events import (
    AttemptCompletedV1,
    AttemptScoredV1,
    AttemptStartedV1,
    Event,
    ExamCreatedV1,
    ItemSelectedV1,
    ResponseRecordedV1,
)
from core.ids import new_id
from psychometrics import CATBank, CATConfig, CATState, ItemChoice, record_response, start

_log = logging.getLogger("dreamseed.exams")


_ATTEMPT_COLUMNS = (
    "attempt_id::text, exam_id::text, student_id::text, status, started_at, completed_at,"
    " raw_score, max_score, seed, bank_key, deadline, position, current_item::text, n_scored,"
    " n_correct, theta, se, scale_score, percentile, skill_profile, stop_reason"
)


# ------------------------------------------------------------------------------ in-process caches
@dataclass(frozen=True)
class PoolEntry:
    """One pool item at its pinned version."""

    item_id: str
    version: int
    stem: str
    options: tuple[str, ...]
    answer_key: int | None
    scoring: str
    skills: tuple[str, ...]
    media: tuple[dict[str, Any], ...]
    status: str

    def shown(self, position: int | None = None) -> ExamItem:
        return ExamItem(self.item_id, self.stem, list(self.options), position, list(self.media))

    def check_choice(self, choice: int) -> None:
        if choice >= len(self.options):
            raise InvalidInput(
                f"choice {choice} is out of range: this item has options 0 to {len(self.options) - 1}"
            )

    def score_of(self, choice: int) -> tuple[int, bool]:
        """IRT category score and correctness (graded: full credit counts as correct)."""
        if self.scoring == "graded":
            return choice, choice == len(self.options) - 1
        return int(choice == self.answer_key), choice == self.answer_key


@dataclass(frozen=True)
class ExamInfo:
    exam: Exam
    cat: CATConfig | None
    scale: dict[str, float]
    time_limit: int | None
    pool: tuple[PoolEntry, ...]
    index_of: dict[str, int]


_EXAMS = Lru(256)
_BANKS = Lru(64)
_FIXED_ATTEMPTS = Lru(cat_cache.LOCAL_SIZE)


async def exam_info(conn: AsyncConnection[Any], exam_id: str) -> ExamInfo:
    """The exam and its pool at the pinned item versions (immutable, so cached in process)."""
    cached: ExamInfo | None = _EXAMS.get_fresh(exam_id)
    if cached is not None:
        return cached
    cur = await conn.execute(
        "select exam_id::text, owner_id::text, class_id::text, title, kind, item_ids::text[],"
        " created_at, config, item_versions from exams.exams where exam_id = %s",
        (exam_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"exam {exam_id} not found")
    exam = Exam.from_row(row)
    versions = row["item_versions"]
    if versions is None:  # fixed-form exams made before versions were pinned: the current ones
        cur = await conn.execute(
            "select item_id::text, version from content.items where item_id = any(%s::uuid[])",
            (exam.item_ids,),
        )
        current = {r["item_id"]: r["version"] for r in await cur.fetchall()}
        versions = [current.get(i, 1) for i in exam.item_ids]
    cur = await conn.execute(
        "select v.item_id::text, v.version, v.stem, v.options, v.answer_key, v.scoring, v.skills,"
        " v.media, v.status from unnest(%s::uuid[], %s::int[]) as u(item_id, version)"
        " join content.item_versions v using (item_id, version)",
        (exam.item_ids, list(versions)),
    )
    by_id = {
        r["item_id"]: PoolEntry(
            r["item_id"],
            r["version"],
            r["stem"],
            tuple(r["options"]),
            r["answer_key"],
            r["scoring"],
            tuple(r["skills"]),
            tuple(r["media"]),
            r["status"],
        )
        for r in await cur.fetchall()
    }
    pool = tuple(by_id[i] for i in exam.item_ids if i in by_id)
    config = exam.config or {}
    info = ExamInfo(
        exam,
        CATConfig.from_dict(config["cat"]) if "cat" in config else None,
        dict(config.get("scale", {"mean": 500.0, "sd": 100.0})),
        config.get("time_limit_seconds"),
        pool,
        {p.item_id: n for n, p in enumerate(pool)},
    )
    _EXAMS.put(exam_id, info)
    return info


async def cached_exam(state: AppState, exam_id: str) -> Exam:
    """The exam, from the in-process cache when it is there (exams never change once created).
    Shared: do not modify the result."""
    info: ExamInfo | None = _EXAMS.get_fresh(exam_id)
    if info is None:
        async with state.pool.connection() as conn:
            info = await exam_info(conn, exam_id)
    return info.exam


async def _bank(
    conn: AsyncConnection[Any], info: ExamInfo, key: str, param_ids: Sequence[str | None] | str
) -> CATBank:
    """The CAT bank of a parameter set (cached in process by `key`); `param_ids` is the set, or
    the id of an attempt whose pinned set to load on a cache miss."""
    bank: CATBank | None = _BANKS.get_fresh(key)
    if bank is not None:
        return bank
    assert info.cat is not None
    if isinstance(param_ids, str):  # an attempt id: its pinned parameter set
        cur = await conn.execute(
            "select param_ids::text[] from exams.attempts where attempt_id = %s", (param_ids,)
        )
        found = await cur.fetchone()
        if found is None or found["param_ids"] is None:
            raise NotFound(f"attempt {param_ids} has no pinned parameters")
        param_ids = list(found["param_ids"])
    cur = await conn.execute(
        "select u.n, p.param_id::text, p.model, p.a, p.d, p.c from unnest(%s::uuid[])"
        " with ordinality as u(param_id, n)"
        " left join content.item_parameters p on p.param_id = u.param_id order by u.n",
        (list(param_ids),),
    )
    rows = [
        adaptive.ParamRow(r["param_id"], r["model"], r["a"], tuple(r["d"]), r["c"])
        if r["param_id"]
        else None
        for r in await cur.fetchall()
    ]
    items = adaptive.item_parameters(rows, [len(p.options) for p in info.pool])
    bank = CATBank.build(items, info.cat)
    _BANKS.put(key, bank)
    return bank


# ------------------------------------------------------------------------------ CAT cache
def _cached_row(entry: cat_cache.Entry, info: ExamInfo) -> dict[str, Any] | None:
    """The attempt row as the cache entry knows it: header, position, item being asked."""
    if not 0 <= entry.pending.item < len(info.pool):
        return None
    return {
        **entry.header,
        "status": "in_progress",
        "position": entry.position,
        "current_item": info.pool[entry.pending.item].item_id,
    }


def _remember(
    state: AppState, row: dict[str, Any], position: int, cat: CATState, pending: ItemChoice | None
) -> None:
    """Cache the attempt's CAT state after `position` answers (`row`: the attempt, for its
    header); a finished attempt (`pending` None) is forgotten."""
    entry = None
    if pending is not None:
        header = {k: row[k] for k in cat_cache.HEADER}
        entry = cat_cache.Entry(header, position, cat, pending)
    cat_cache.put(state.redis, row["attempt_id"], entry)


async def _stored_steps(conn: AsyncConnection[Any], attempt_id: str) -> list[adaptive.StoredStep]:
    cur = await conn.execute(
        "select s.position, s.bank_index, s.pilot, s.reason, s.criterion, r.score"
        " from exams.selections s left join exams.responses r"
        " on r.attempt_id = s.attempt_id and r.item_id = s.item_id"
        " where s.attempt_id = %s order by s.position",
        (attempt_id,),
    )
    return [
        adaptive.StoredStep(
            r["position"], r["bank_index"], r["pilot"], r["reason"], r["criterion"], r["score"]
        )
        for r in await cur.fetchall()
    ]


def _cached_cat(
    row: dict[str, Any], info: ExamInfo, cached: cat_cache.Entry | None
) -> tuple[CATState, ItemChoice] | None:
    """The cached (state, pending selection) if it is the attempt's current one, else None."""
    if cached is None:
        return None
    current = row["current_item"]
    cat, pending = cached.state, cached.pending
    if (
        cached.position == row["position"] == len(cat.items)
        and cat.seed == row["seed"]
        and cached.header["attempt_id"] == row["attempt_id"]
        and (current is None or info.index_of.get(current) == pending.item)
    ):
        cat_cache.STATS["hits"] += 1
        return cat, pending
    return None


async def _cat_state(
    conn: AsyncConnection[Any],
    row: dict[str, Any],
    info: ExamInfo,
    bank: CATBank,
    cached: cat_cache.Entry | None,
) -> tuple[CATState, ItemChoice | None, bool]:
    """(state after the answered items, the pending selection, whether the cache served it)."""
    assert info.cat is not None
    served = _cached_cat(row, info, cached)
    if served is not None:
        return served[0], served[1], True
    cat_cache.STATS["rebuilds"] += 1
    steps = await _stored_steps(conn, row["attempt_id"])
    cat = adaptive.rebuild_state(row["seed"], info.cat, bank, steps)
    pending_step = next((s for s in steps if s.score is None), None)
    return cat, adaptive.choice_of(pending_step) if pending_step else None, False


# ------------------------------------------------------------------------------ exams
async def _pool(
    conn: AsyncConnection[Any], owner_id: str, item_ids: list[str]
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "select i.item_id::text, i.version, i.status, i.skills, i.scoring,"
        " jsonb_array_length(i.options) as n_options, p.param_id is not null as has_params,"
        " p.model, p.a, p.d, p.c from unnest(%s::uuid[]) with ordinality as u(item_id, n)"
        " join content.items i using (item_id)"
        " left join content.item_parameters p on p.item_id = i.item_id and p.is_live"
        " where i.owner_id = %s order by u.n",
        (item_ids, owner_id),
    )
    return [dict(r) for r in await cur.fetchall()]


async def create_adaptive_exam(state: AppState, owner_id: str, data: CreateExamRequest) -> Exam:
    item_ids = [str(i) for i in data.item_ids]
    if len(set(item_ids)) != len(item_ids):
        raise InvalidInput("item_ids contains the same item twice")
    settings = msgspec.to_builtins(data.adaptive) if data.adaptive else None
    if settings is None:
        from apis.exams.schemas import AdaptiveConfig

        settings = msgspec.to_builtins(AdaptiveConfig())
    if data.time_limit_seconds is not None:
        if settings.get("time_limit_seconds") not in (None, data.time_limit_seconds):
            raise InvalidInput(
                "time_limit_seconds is set twice with different values (at the top level and "
                "in adaptive); set it once"
            )
        settings["time_limit_seconds"] = data.time_limit_seconds
    class_id = str(data.class_id) if data.class_id else None
    async with state.pool.connection() as conn:
        await services.ensure_teaches(conn, owner_id, class_id)
        rows = await _pool(conn, owner_id, item_ids)
        found = {r["item_id"] for r in rows}
        missing = [i for i in item_ids if i not in found]
        if missing:
            raise InvalidInput("these items do not exist in your bank: " + ", ".join(missing))
        pool = [
            adaptive.PoolItem(
                r["item_id"], r["status"], tuple(r["skills"]), r["n_options"], r["scoring"],
                r["has_params"],
            )
            for r in rows
        ]  # fmt: skip
        cat = adaptive.build_cat_config(settings, pool)
        if settings["exposure"]["method"] == "sympson-hetter":
            params = [
                adaptive.ParamRow(None, r["model"], r["a"], tuple(r["d"]), r["c"])
                if r["has_params"]
                else None
                for r in rows
            ]
            items = adaptive.item_parameters(params, [r["n_options"] for r in rows])
            sh = await asyncio.to_thread(
                adaptive.sympson_hetter_parameters, items, cat, settings["exposure"]["max_rate"]
            )
            cat = CATConfig.from_dict({**cat.to_dict(), "sh_parameters": list(sh)})
        config = {**settings, "cat": cat.to_dict()}
        async with conn.transaction():
            cur = await conn.execute(
                "insert into exams.exams (exam_id, owner_id, class_id, title, kind, item_ids,"
                " item_versions, config) values (%s, %s, %s, %s, 'adaptive', %s::uuid[], %s, %s)"
                " returning exam_id::text, owner_id::text, class_id::text, title, kind,"
                " item_ids::text[], created_at, config",
                (
                    new_id(),
                    owner_id,
                    class_id,
                    data.title,
                    item_ids,
                    [r["version"] for r in rows],
                    json.dumps(config),
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            await outbox.append(
                conn,
                ExamCreatedV1(
                    exam_id=row["exam_id"],
                    owner_id=owner_id,
                    class_id=class_id,
                    item_count=len(item_ids),
                    created_at=row["created_at"],
                ),
            )
    return Exam.from_row(row)


# ------------------------------------------------------------------------------ attempts
async def _lock_attempt(conn: AsyncConnection[Any], attempt_id: str) -> dict[str, Any]:
    cur = await conn.execute(
        f"select {_ATTEMPT_COLUMNS} from exams.attempts where attempt_id = %s for update",
        (attempt_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"attempt {attempt_id} not found")
    return dict(row)


async def authorize_attempt(
    state: AppState, principal: Principal, row: dict[str, Any], exam: Exam, action: str
) -> None:
    """The student acts on her own attempt ("own" scope: no class lookup needed); anyone else
    (her teacher, an admin) through the exam's class."""
    class_id = None if principal.user_id == row["student_id"] else exam.class_id
    await state.policy.authorize(
        principal, action, Resource("attempt", row["attempt_id"], row["student_id"], class_id)
    )


def _rule(info: ExamInfo) -> str:
    assert info.cat is not None
    return f"{info.cat.selection}/{info.cat.exposure}"


def _selected_event(
    row: dict[str, Any],
    info: ExamInfo,
    position: int,
    cat: CATState,
    step: adaptive.Step,
    selected_at: datetime,
) -> ItemSelectedV1:
    assert step.choice is not None
    choice = step.choice
    return ItemSelectedV1(
        attempt_id=row["attempt_id"],
        exam_id=info.exam.exam_id,
        student_id=row["student_id"],
        position=position,
        item_id=info.pool[choice.item].item_id,
        pilot=choice.pilot,
        rule=_rule(info),
        reason=choice.reason,
        criterion=choice.value,
        candidates=step.candidates,
        seed=row["seed"],
        theta_before=cat.theta,
        se_before=cat.se,
        selected_at=selected_at,
    )


@dataclass(frozen=True)
class _Final:
    """The result of a finished attempt, before it is stored."""

    score: adaptive.Score
    raw_score: int  # correct scored (non-pilot) answers
    max_score: int  # scored answers


def _final_result(info: ExamInfo, bank: CATBank, cat: CATState) -> _Final:
    assert info.cat is not None
    n_cat = bank.items.n_categories
    correct = [int(r) == int(n_cat[i]) - 1 for i, r in zip(cat.items, cat.responses, strict=True)]
    sc = adaptive.score(cat, bank, info.cat, info.scale, [p.skills for p in info.pool], correct)
    scored = [c for c, p in zip(correct, cat.pilot, strict=True) if not p]
    return _Final(sc, sum(scored), len(scored))


def _completion_events(
    row: dict[str, Any],
    info: ExamInfo,
    items_administered: int,
    final: _Final,
    reason: str,
    completed_at: datetime,
) -> list[tuple[Event, datetime | None]]:
    """`exams.attempt.completed.v1` and `exams.attempt.scored.v1` of a finished attempt (`row`:
    attempt_id, student_id, started_at)."""
    sc = final.score
    return [
        (
            AttemptCompletedV1(
                attempt_id=row["attempt_id"],
                exam_id=info.exam.exam_id,
                student_id=row["student_id"],
                class_id=info.exam.class_id,
                raw_score=final.raw_score,
                max_score=final.max_score,
                started_at=row["started_at"],
                completed_at=completed_at,
            ),
            completed_at,
        ),
        (
            AttemptScoredV1(
                attempt_id=row["attempt_id"],
                exam_id=info.exam.exam_id,
                student_id=row["student_id"],
                class_id=info.exam.class_id,
                theta=sc.theta,
                se=sc.se,
                scale_score=sc.scale_score,
                percentile=sc.percentile,
                items_administered=items_administered,
                scored_items=final.max_score,
                stop_reason=reason,
                completed_at=completed_at,
            ),
            completed_at,
        ),
    ]


async def _finalize(
    conn: AsyncConnection[Any],
    row: dict[str, Any],
    info: ExamInfo,
    bank: CATBank,
    cat: CATState,
    reason: str,
    completed_at: datetime | None = None,
) -> dict[str, Any]:
    """Complete the locked attempt `row` on the answers in `cat` (finish, time limit)."""
    final = _final_result(info, bank, cat)
    sc = final.score
    cur = await conn.execute(
        "update exams.attempts set status = 'completed', completed_at = coalesce(%s, now()),"
        " raw_score = %s, max_score = %s, n_scored = %s, n_correct = %s, theta = %s, se = %s,"
        " scale_score = %s, percentile = %s, skill_profile = %s::jsonb, stop_reason = %s,"
        f" current_item = null, position = %s where attempt_id = %s returning {_ATTEMPT_COLUMNS}",
        (
            completed_at,
            final.raw_score,
            final.max_score,
            final.max_score,
            final.raw_score,
            sc.theta,
            sc.se,
            sc.scale_score,
            sc.percentile,
            json.dumps(sc.skills),
            reason,
            len(cat.items),
            row["attempt_id"],
        ),
    )
    done = await cur.fetchone()
    assert done is not None
    events = _completion_events(done, info, len(cat.items), final, reason, done["completed_at"])
    await outbox.append_many(conn, events)
    return dict(done)


# The exam's live IRT parameters in pool order, as PostgreSQL's array text (NULL: no parameters)
# and the digest `adaptive.bank_key` computes from them, so that no 300-element array crosses
# the driver on the way in or out.
_LIVE_PARAMS_SQL = (
    "select coalesce(array_agg(p.param_id order by u.n), '{}')::text as param_ids,"
    " left(encode(sha256(convert_to(string_agg(coalesce(p.param_id::text, '-'), '|'"
    " order by u.n), 'UTF8')), 'hex'), 24) as digest"
    " from exams.exams e cross join unnest(e.item_ids) with ordinality as u(item_id, n)"
    " left join content.item_parameters p on p.item_id = u.item_id and p.is_live"
    " where e.exam_id = %s"
)


def _uuid_array(text: str) -> list[str | None]:
    """PostgreSQL's text form of a uuid[] (`{a,NULL,b}`) as a list."""
    inner = text.strip("{}")
    return [None if v == "NULL" else v for v in inner.split(",")] if inner else []


async def start_attempt(state: AppState, exam: Exam, student_id: str) -> tuple[Attempt, bool]:
    """Start an attempt, or resume the one running (adaptive: the first item selected and
    stored). Returns (attempt, created)."""
    async with state.pool.connection() as conn:
        info = await exam_info(conn, exam.exam_id)
        if info.cat is None:
            async with conn.transaction():
                return await fixed.start(conn, info, student_id)
        async with conn.transaction():
            await conn.execute(
                "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"{exam.exam_id}:{student_id}",),
            )
            cur = await conn.execute(
                "select attempt_id::text from exams.attempts where exam_id = %s and"
                " student_id = %s and status = 'in_progress'",
                (exam.exam_id, student_id),
            )
            existing = await cur.fetchone()
            if existing is not None:
                row = await _lock_attempt(conn, existing["attempt_id"])
                now = datetime.now(UTC)
                if not expired(row, now):
                    return await _attempt_view(conn, row, info), False
                bank = await _bank(conn, info, row["bank_key"], row["attempt_id"])
                cat, _, _ = await _cat_state(conn, row, info, bank, None)
                await _finalize(conn, row, info, bank, cat, TIME_LIMIT_REASON, row["deadline"])
            cur = await conn.execute(_LIVE_PARAMS_SQL, (exam.exam_id,))
            live = await cur.fetchone()
            assert live is not None
            key = f"{exam.exam_id}:{live['digest']}"
            bank = _BANKS.get_fresh(key) or await _bank(
                conn, info, key, _uuid_array(live["param_ids"])
            )
            seed = secrets.randbits(63)
            cat = start(seed, info.cat)
            step = adaptive.advance(cat, bank, info.cat)
            if step.choice is None:
                raise Conflict(f"this exam cannot start: {step.stop_reason}")
            started_at = datetime.now(UTC)
            deadline = started_at + timedelta(seconds=info.time_limit) if info.time_limit else None
            row = {
                "attempt_id": str(new_id()),
                "exam_id": exam.exam_id,
                "student_id": student_id,
                "status": "in_progress",
                "started_at": started_at,
                "completed_at": None,
                "raw_score": None,
                "max_score": None,
                "seed": seed,
                "bank_key": key,
                "deadline": deadline,
                "position": 0,
            }
            started = AttemptStartedV1(
                attempt_id=row["attempt_id"],
                exam_id=exam.exam_id,
                student_id=student_id,
                started_at=started_at,
            )
            selected = _selected_event(row, info, 0, cat, step, started_at)
            await recording.start(
                conn,
                {
                    **row,
                    "param_ids": live["param_ids"],
                    "item_id": selected.item_id,
                    "bank_index": step.choice.item,
                    "pilot": step.choice.pilot,
                    "rule": selected.rule,
                    "reason": selected.reason,
                    "criterion": selected.criterion,
                    "candidates": step.candidates,
                    "rng": adaptive.RNG_DESCRIPTION,
                    "theta": cat.theta,
                    "se": cat.se,
                },
                [(started, started_at), (selected, started_at)],
            )
    _remember(state, row, 0, cat, step.choice)
    view = Attempt.from_row(
        row, [], [], kind="adaptive", deadline=deadline,
        next_item=info.pool[step.choice.item].shown(0),
    )  # fmt: skip
    return view, True


async def answer(
    state: AppState, principal: Principal, attempt_id: str, data: AnswerRequest
) -> tuple[AnswerReply, bool]:
    """Record one answer; adaptive: and serve the next item (or the result).

    Idempotent: the same idempotency key (or the same item and choice) again returns the stored
    outcome (200) and records nothing; a key or item reused with a different answer is a 409.

    Fast path: with the CAT state cached (this process first, then Redis: `cat_cache`) and the
    answer to the item being asked, no read and no lock: one conditional statement
    (`recording`) writes everything or nothing. Anything else (no cache, a retry, a concurrent
    answer, the time limit, a stale cache) takes the locked path, which rebuilds what it needs
    from PostgreSQL. Fixed-form attempts always take the locked path (`fixed`).
    """
    item_id = str(data.item_id)
    cached = None
    if _FIXED_ATTEMPTS.get_fresh(attempt_id) is None:
        cached = cat_cache.local(attempt_id)
        if cached is not None:
            fast = await _answer_from_cache(state, principal, attempt_id, item_id, data, cached)
            if fast is not None:
                return fast, True
            cat_cache.LOCAL.pop(attempt_id, None)  # stale (another replica moved on) or not ours
        shared = await cat_cache.shared(state.redis, attempt_id)
        if shared is not None and (cached is None or shared.position != cached.position):
            fast = await _answer_from_cache(state, principal, attempt_id, item_id, data, shared)
            if fast is not None:
                return fast, True
        cached = shared
    try:
        return await _answer_locked(state, principal, attempt_id, item_id, data, cached)
    except UniqueViolation as exc:  # under the lock only a reused key or position can collide
        raise Conflict(
            f"idempotency key {data.idempotency_key!r} was already used for another answer"
            if exc.diag.constraint_name == "responses_idempotency"
            else f"item {item_id} was already answered in this attempt"
        ) from exc


async def _answer_from_cache(
    state: AppState,
    principal: Principal,
    attempt_id: str,
    item_id: str,
    data: AnswerRequest,
    cached: cat_cache.Entry,
) -> AnswerReply | None:
    """The answer to the item being asked, from the cached state; None: take the locked path."""
    if cached.header["attempt_id"] != attempt_id:
        return None
    info: ExamInfo | None = _EXAMS.get_fresh(cached.header["exam_id"])
    bank: CATBank | None = _BANKS.get_fresh(cached.header["bank_key"])
    if info is None or bank is None or info.cat is None:
        return None
    row = _cached_row(cached, info)
    if row is None:
        return None
    # The student, exam and bank of an attempt never change, so the cached ones authorize as
    # the stored ones would; the write below re-checks the student and the position.
    await authorize_attempt(state, principal, row, info.exam, "exams.attempt.answer")
    now = datetime.now(UTC)
    if item_id != row["current_item"] or expired(row, now):
        return None
    entry = info.pool[info.index_of[item_id]]
    entry.check_choice(data.choice)
    served = _cached_cat(row, info, cached)
    if served is None:
        return None
    cat, pending = served
    async with state.pool.connection() as conn:
        await conn.set_autocommit(True)  # the one statement is its own transaction
        try:
            written = await _write_answer(conn, row, info, bank, entry, data, cat, pending, now)
        except UniqueViolation:  # answered meanwhile, or a reused key: the locked path says which
            written = None
        finally:
            await conn.set_autocommit(False)
    if written is None:
        return None
    reply, cache_write = written
    _remember(state, row, *cache_write)
    return reply


async def _answer_locked(
    state: AppState,
    principal: Principal,
    attempt_id: str,
    item_id: str,
    data: AnswerRequest,
    cached: cat_cache.Entry | None,
) -> tuple[AnswerReply, bool]:
    expired_at: datetime | None = None
    cache_write: tuple[int, CATState, ItemChoice | None] | None = None
    row: dict[str, Any] = {}
    try:
        async with state.pool.connection() as conn, conn.transaction():
            row = await _lock_attempt(conn, attempt_id)
            info = await exam_info(conn, row["exam_id"])
            await authorize_attempt(state, principal, row, info.exam, "exams.attempt.answer")
            if info.exam.kind != "adaptive":
                _FIXED_ATTEMPTS.put(attempt_id, True)  # no CAT state to look up next time
                fixed_reply = await fixed.answer(conn, row, info, data)
                if fixed_reply is not None:
                    return fixed_reply
                expired_at = row["deadline"]  # finished at its deadline: commit, then refuse
            else:
                assert info.cat is not None
                # Not the item being asked: a retry of an earlier answer, or a mistake. (A reused
                # idempotency key on the current item is caught by the insert's unique index.)
                if item_id != row["current_item"]:
                    previous = await rules.previous_answer(
                        conn, attempt_id, item_id, data.idempotency_key
                    )
                    if previous is not None:
                        return await _repeat(conn, row, info, previous, data), False
                if row["status"] != "in_progress":
                    raise Conflict(
                        f"this attempt is already completed ({row['stop_reason']}); "
                        "no more answers are accepted"
                    )
                entry_index = info.index_of.get(item_id)
                if entry_index is None:
                    raise InvalidInput(f"item {item_id} is not part of this exam")
                now = datetime.now(UTC)
                bank = await _bank(conn, info, row["bank_key"], row["attempt_id"])
                if expired(row, now):
                    cat, _, _ = await _cat_state(conn, row, info, bank, cached)
                    await _finalize(conn, row, info, bank, cat, TIME_LIMIT_REASON, row["deadline"])
                    expired_at = row["deadline"]
                    cache_write = (row["position"], cat, None)
                else:
                    if item_id != row["current_item"]:
                        raise Conflict(
                            f"item {item_id} is not the item being asked; answer the current "
                            f"item {row['current_item']} (GET the attempt to see it)"
                        )
                    entry = info.pool[entry_index]
                    entry.check_choice(data.choice)
                    cat, pending, _ = await _cat_state(conn, row, info, bank, cached)
                    if pending is None or info.pool[pending.item].item_id != entry.item_id:
                        raise Conflict(
                            "the attempt's selection log is inconsistent; contact support"
                        )
                    written = await _write_answer(
                        conn, row, info, bank, entry, data, cat, pending, now
                    )
                    if written is None:  # cannot happen under the lock; never write half an answer
                        raise Conflict("the attempt changed while this answer was recorded; retry")
                    reply, cache_write = written
        if expired_at is not None:
            raise Conflict(
                f"the time limit expired at {expired_at.isoformat()}; the attempt was finished "
                "and this answer was not recorded"
            )
        return reply, True
    finally:
        if cache_write is not None:
            _remember(state, row, *cache_write)


async def _write_answer(
    conn: AsyncConnection[Any],
    row: dict[str, Any],
    info: ExamInfo,
    bank: CATBank,
    entry: PoolEntry,
    data: AnswerRequest,
    cat: CATState,
    pending: ItemChoice,
    now: datetime,
) -> tuple[AnswerReply, tuple[int, CATState, ItemChoice | None]] | None:
    """Score the answer, move the CAT on and write response + selection (or result) + events in
    one statement. None when the attempt was no longer as `row` says (nothing written)."""
    assert info.cat is not None
    score, correct = entry.score_of(data.choice)
    position = row["position"]
    with stage("cat"):
        after = record_response(cat, pending, score, bank)
        step = adaptive.advance(after, bank, info.cat)
    answered = recording.AnsweredItem(
        row["attempt_id"], row["student_id"], position, entry.item_id, entry.version,
        data.choice, score, correct, pending.pilot, data.idempotency_key, now, GRACE,
    )  # fmt: skip
    recorded = ResponseRecordedV1(
        attempt_id=row["attempt_id"],
        exam_id=info.exam.exam_id,
        student_id=row["student_id"],
        item_id=entry.item_id,
        choice=data.choice,
        is_correct=correct,
        answered_at=now,
    )
    reply = AnswerReply(entry.item_id, data.choice, now, answered=position + 1)
    choice = step.choice
    if choice is not None:
        scored = 0 if pending.pilot else 1
        selection = {
            "exam_id": info.exam.exam_id,
            "next_item_id": info.pool[choice.item].item_id,
            "bank_index": choice.item,
            "next_pilot": choice.pilot,
            "rule": _rule(info),
            "reason": choice.reason,
            "criterion": choice.value,
            "candidates": step.candidates,
            "seed": row["seed"],
            "rng": adaptive.RNG_DESCRIPTION,
            "theta": after.theta,
            "se": after.se,
            "scored": scored,
            "scored_correct": int(correct and scored == 1),
        }
        selected = _selected_event(row, info, position + 1, after, step, now)
        if not await recording.advance(
            conn, answered, selection, [(recorded, now), (selected, now)]
        ):
            return None
        reply.next_item = info.pool[choice.item].shown(position + 1)
        return reply, (position + 1, after, choice)
    reason = step.stop_reason or "stopped"
    final = _final_result(info, bank, after)
    sc = final.score
    result = {
        "raw_score": final.raw_score,
        "max_score": final.max_score,
        "theta": sc.theta,
        "se": sc.se,
        "scale_score": sc.scale_score,
        "percentile": sc.percentile,
        "skill_profile": json.dumps(sc.skills),
        "stop_reason": reason,
    }
    events = [(recorded, now), *_completion_events(row, info, len(after.items), final, reason, now)]
    done = await recording.complete(conn, answered, result, events, _ATTEMPT_COLUMNS)
    if done is None:
        return None
    reply.status = "completed"
    reply.result = _result(done, info)
    return reply, (position + 1, after, None)


async def _repeat(
    conn: AsyncConnection[Any],
    row: dict[str, Any],
    info: ExamInfo,
    previous: dict[str, Any],
    data: AnswerRequest,
) -> AnswerReply:
    rules.ensure_same_answer(previous, data)
    reply = AnswerReply(
        previous["item_id"], previous["choice"], previous["answered_at"], status=row["status"],
        answered=row["position"], replayed=True,
    )  # fmt: skip
    if row["status"] == "in_progress" and row["current_item"]:
        n = info.index_of[row["current_item"]]
        reply.next_item = info.pool[n].shown(row["position"])
    elif row["status"] == "completed":
        reply.result = _result(row, info)
    return reply


async def finish(state: AppState, principal: Principal, attempt_id: str) -> Attempt:
    """The student ends her attempt (adaptive: early, scored on what she answered)."""
    cache_write = False
    async with state.pool.connection() as conn, conn.transaction():
        row = await _lock_attempt(conn, attempt_id)
        info = await exam_info(conn, row["exam_id"])
        await authorize_attempt(state, principal, row, info.exam, "exams.attempt.answer")
        if info.exam.kind != "adaptive":
            return await fixed.finish(conn, row, info)
        if row["status"] != "in_progress":
            raise Conflict(f"this attempt is already completed ({row['stop_reason']})")
        bank = await _bank(conn, info, row["bank_key"], row["attempt_id"])
        cat, _, _ = await _cat_state(conn, row, info, bank, None)
        now = datetime.now(UTC)
        if expired(row, now):
            done = await _finalize(conn, row, info, bank, cat, TIME_LIMIT_REASON, row["deadline"])
        else:
            done = await _finalize(conn, row, info, bank, cat, STUDENT_FINISH_REASON)
        cache_write = True
        view = await _attempt_view(conn, done, info)
    if cache_write:
        cat_cache.put(state.redis, attempt_id, None)
    return view


# ------------------------------------------------------------------------------ reads
def _result(row: dict[str, Any], info: ExamInfo) -> Result:
    skills = [msgspec.convert(s, SkillScore) for s in (row.get("skill_profile") or [])]
    return Result(
        row["attempt_id"],
        row["exam_id"],
        row["student_id"],
        row["status"],
        info.exam.kind,
        row["raw_score"],
        row["max_score"],
        row.get("theta"),
        row.get("se"),
        row.get("scale_score"),
        row.get("percentile"),
        (row.get("position") or 0) if info.exam.kind == "adaptive" else (row["max_score"] or 0),
        row.get("stop_reason"),
        skills,
        row["started_at"],
        row["completed_at"],
    )


async def _attempt_view(conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo) -> Attempt:
    completed = row["status"] == "completed"
    cur = await conn.execute(
        "select s.position, s.item_id::text, r.choice, r.answered_at, r.is_correct"
        " from exams.selections s left join exams.responses r"
        " on r.attempt_id = s.attempt_id and r.item_id = s.item_id"
        " where s.attempt_id = %s order by s.position",
        (row["attempt_id"],),
    )
    rows = await cur.fetchall()
    items = [
        info.pool[info.index_of[r["item_id"]]].shown(r["position"])
        for r in rows
        if r["choice"] is not None
    ]
    responses = [
        Response(
            r["item_id"], r["choice"], r["answered_at"], r["is_correct"] if completed else None
        )
        for r in rows
        if r["choice"] is not None
    ]
    next_item = None
    if row["status"] == "in_progress" and row["current_item"]:
        next_item = info.pool[info.index_of[row["current_item"]]].shown(row["position"])
    return Attempt.from_row(
        row,
        items,
        responses,
        kind="adaptive",
        deadline=row["deadline"],
        next_item=next_item,
        result=_result(row, info) if completed else None,
    )


async def _read_attempt(
    state: AppState, principal: Principal, attempt_id: str, action: str, *, view: bool
) -> tuple[dict[str, Any], ExamInfo, Attempt | None]:
    """Load and authorize, and with `view` the whole attempt too; an in-progress attempt past
    its deadline is finished (lazily) first."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_ATTEMPT_COLUMNS} from exams.attempts where attempt_id = %s", (attempt_id,)
        )
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"attempt {attempt_id} not found")
        row = dict(found)
        info = await exam_info(conn, row["exam_id"])
        await authorize_attempt(state, principal, row, info.exam, action)
        if info.exam.kind != "adaptive":
            row = await fixed.finish_if_expired(conn, row, info)
            return row, info, await fixed.view(conn, row, info) if view else None
        if expired(row, datetime.now(UTC)):
            async with conn.transaction():
                row = await _lock_attempt(conn, attempt_id)
                if expired(row, datetime.now(UTC)):
                    bank = await _bank(conn, info, row["bank_key"], row["attempt_id"])
                    cat, _, _ = await _cat_state(conn, row, info, bank, None)
                    row = await _finalize(
                        conn, row, info, bank, cat, TIME_LIMIT_REASON, row["deadline"]
                    )
        return row, info, await _attempt_view(conn, row, info) if view else None


async def get_attempt(state: AppState, principal: Principal, attempt_id: str) -> Attempt:
    _, _, attempt = await _read_attempt(
        state, principal, attempt_id, "exams.attempt.read", view=True
    )
    assert attempt is not None
    return attempt


async def get_result(state: AppState, principal: Principal, attempt_id: str) -> Result:
    row, info, _ = await _read_attempt(
        state, principal, attempt_id, "exams.result.read", view=False
    )
    if row["status"] != "completed":
        raise Conflict("this attempt is still in progress; its result exists once it is finished")
    return _result(row, info)


async def list_results(
    state: AppState,
    principal: Principal,
    exam_id: str | None,
    class_id: str | None,
    limit: int,
) -> list[Result]:
    """Completed attempts the caller may read: a student her own; a teacher those of the classes
    she teaches and of the exams she owns; an admin or service all."""
    if principal.role == "student":
        scope, args = "a.student_id = %s", [principal.user_id]
    elif principal.role == "teacher":
        scope = (
            "(e.owner_id = %s or e.class_id in"
            " (select class_id from classes.classes where teacher_id = %s))"
        )
        args = [principal.user_id, principal.user_id]
    else:
        scope, args = "true", []
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {', '.join('a.' + c.strip() for c in _ATTEMPT_COLUMNS.split(','))}"
            " from exams.attempts a join exams.exams e using (exam_id)"
            f" where a.status = 'completed' and {scope}"
            " and (%s::uuid is null or a.exam_id = %s::uuid)"
            " and (%s::uuid is null or e.class_id = %s::uuid)"
            " order by a.completed_at desc limit %s",
            (*args, exam_id, exam_id, class_id, class_id, limit),
        )
        rows = [dict(r) for r in await cur.fetchall()]
        out = []
        for r in rows:
            out.append(_result(r, await exam_info(conn, r["exam_id"])))
    return out


async def item_report(state: AppState, principal: Principal, exam_id: str) -> ItemReport:
    """Per-item exposure, responses and proportion correct of an exam, for its teacher."""
    async with state.pool.connection() as conn:
        info = await exam_info(conn, exam_id)
        await state.policy.authorize(
            principal,
            "exams.result.read",
            Resource("item_report", exam_id, info.exam.owner_id, info.exam.class_id),
        )
        cur = await conn.execute(
            "select count(*) as attempts, count(*) filter (where status = 'completed')"
            " as completed from exams.attempts where exam_id = %s",
            (exam_id,),
        )
        totals = await cur.fetchone()
        assert totals is not None
        if info.exam.kind == "adaptive":
            cur = await conn.execute(
                "select x.item_id::text, x.selections, x.responses, x.correct,"
                " (select avg(a.theta) from exams.selections s join exams.attempts a"
                "   using (attempt_id) where s.exam_id = x.exam_id and s.item_id = x.item_id"
                "   and a.status = 'completed') as mean_theta"
                " from exams.item_exposure x where x.exam_id = %s",
                (exam_id,),
            )
        else:
            cur = await conn.execute(
                "select r.item_id::text, count(distinct a.attempt_id) as selections,"
                " count(*) as responses, count(*) filter (where r.is_correct) as correct,"
                " null::float8 as mean_theta from exams.responses r join exams.attempts a"
                " using (attempt_id) where a.exam_id = %s group by r.item_id",
                (exam_id,),
            )
        stats = {r["item_id"]: r for r in await cur.fetchall()}
        cur = await conn.execute(
            "select item_id::text, a, b from content.item_parameters"
            " where item_id = any(%s::uuid[]) and is_live",
            (info.exam.item_ids,),
        )
        live = {r["item_id"]: r for r in await cur.fetchall()}
    attempts = int(totals["attempts"])
    rows = []
    for p in info.pool:
        s = stats.get(p.item_id)
        sel = int(s["selections"]) if s else 0
        resp = int(s["responses"]) if s else 0
        lp = live.get(p.item_id)
        rows.append(
            ItemReportRow(
                p.item_id, p.status, list(p.skills), sel,
                round(sel / attempts, 4) if attempts else None,
                resp,
                round(int(s["correct"]) / resp, 4) if s and resp else None,
                round(float(s["mean_theta"]), 4) if s and s["mean_theta"] is not None else None,
                lp["a"] if lp else None,
                list(lp["b"]) if lp else None,
            )
        )  # fmt: skip
    rows.sort(key=lambda r: -r.selections)
    return ItemReport(exam_id, attempts, int(totals["completed"]), rows)


async def replay(state: AppState, principal: Principal, attempt_id: str) -> Replay:
    """Recompute an attempt from its stored seed, configuration, parameters and responses."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_ATTEMPT_COLUMNS} from exams.attempts where attempt_id = %s", (attempt_id,)
        )
        found = await cur.fetchone()
        if found is None:
            raise NotFound(f"attempt {attempt_id} not found")
        row = dict(found)
        info = await exam_info(conn, row["exam_id"])
        await authorize_attempt(state, principal, row, info.exam, "exams.attempt.replay")
        if info.exam.kind != "adaptive" or info.cat is None:
            raise InvalidInput(
                "only adaptive attempts can be replayed; fixed forms have no selection"
            )
        bank = await _bank(conn, info, row["bank_key"], row["attempt_id"])
        steps = await _stored_steps(conn, attempt_id)
        cur = await conn.execute(
            "select s.position, s.item_id::text, s.pilot, s.rule, s.reason, s.criterion,"
            " s.candidates, s.theta_before, s.se_before, s.selected_at, r.choice, r.score"
            " from exams.selections s left join exams.responses r"
            " on r.attempt_id = s.attempt_id and r.item_id = s.item_id"
            " where s.attempt_id = %s order by s.position",
            (attempt_id,),
        )
        selections = [msgspec.convert(dict(r), Selection) for r in await cur.fetchall()]
    stop = row["stop_reason"] if row["status"] == "completed" else None
    report = adaptive.replay(row["seed"], info.cat, bank, steps, stop)
    ids = [p.item_id for p in info.pool]
    return Replay(
        attempt_id,
        report.matches,
        report.positions_checked,
        report.first_mismatch,
        report.detail,
        row["seed"],
        adaptive.RNG_DESCRIPTION,
        [ids[i] for i in report.replayed_items],
        [ids[i] for i in report.stored_items],
        report.stop_reason,
        report.theta,
        report.se,
        selections,
    )
