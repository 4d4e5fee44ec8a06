"""The item bank: teachers own their items; every edit is a new immutable version; IRT parameters
are versioned per calibration with one promoted ("live") row per item.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import uuid
from typing import Any

import msgspec
from psycopg import AsyncConnection

from apis.content import media_refs
from apis.content.schemas import (
    CreateItemRequest,
    ImportItem,
    ImportResult,
    Item,
    ItemPage,
    ItemVersion,
    MediaRef,
    Parameters,
    ParametersIn,
    UpdateItemRequest,
)
from apis.gateway.input_hygiene import unstorable_path
from apis.state import AppState
from apis.validation import humanize
from core import outbox
from core.db import item_parameters_lock
from core.errors import Conflict, InvalidInput, NotFound
from core.events import (
    ItemCreatedV1,
    ItemParametersAddedV1,
    ItemParametersPromotedV1,
    ItemUpdatedV1,
)
from core.ids import new_id

_COLUMNS = (
    "item_id::text, owner_id::text, stem, options, answer_key, skills, status, created_at,"
    " version, scoring, media, updated_at"
)
_PARAM_COLUMNS = (
    "param_id::text, item_id::text, version, calibration_id, model, a, b, c, d, provenance,"
    " is_live, created_at, promoted_at"
)
CSV_FIELDS = (
    "item_id",
    "stem",
    "options",
    "answer_key",
    "scoring",
    "skills",
    "status",
    "media",
    "model",
    "a",
    "b",
    "c",
    "calibration_id",
)


def _parameters(row: dict[str, Any]) -> Parameters:
    return Parameters(
        row["param_id"],
        row["version"],
        row["calibration_id"],
        row["model"],
        row["a"],
        list(row["b"]),
        row["c"],
        list(row["d"]),
        dict(row["provenance"]),
        row["is_live"],
        row["created_at"],
        row["promoted_at"],
    )


def _media(raw: Any) -> list[MediaRef]:
    return msgspec.convert(raw or [], list[MediaRef])


def _item(row: dict[str, Any], params: dict[str, Any] | None = None) -> Item:
    return Item(
        row["item_id"],
        row["owner_id"],
        row["stem"],
        list(row["options"]),
        row["answer_key"],
        list(row["skills"]),
        row["status"],
        row["created_at"],
        row["version"],
        row["scoring"],
        _media(row["media"]),
        row["updated_at"],
        _parameters(params) if params else None,
    )


# ------------------------------------------------------------------------------ validation
def check_answer(scoring: str, options: list[str], answer_key: int | None, where: str = "") -> None:
    """Keyed items need a key among the options; graded items must not have one."""
    if scoring == "key":
        if answer_key is None:
            raise InvalidInput(f"{where}answer_key is required for keyed items (scoring 'key')")
        if answer_key >= len(options):
            raise InvalidInput(
                f"{where}answer_key {answer_key} is out of range for {len(options)} options "
                f"(0 to {len(options) - 1})"
            )
    elif answer_key is not None:
        raise InvalidInput(
            f"{where}graded items score the chosen category; leave answer_key out (null)"
        )


def check_parameters(
    p: ParametersIn, scoring: str, n_options: int, where: str = ""
) -> tuple[list[float], list[float]]:
    """Validate parameters against the item; return thresholds b and intercepts d = -a·b."""
    b = [float(x) for x in (p.b if isinstance(p.b, list) else [p.b])]
    if scoring == "graded":
        if p.model != "grm":
            raise InvalidInput(f"{where}graded items take model 'grm', not {p.model!r}")
        if len(b) != n_options - 1:
            raise InvalidInput(
                f"{where}a graded item with {n_options} categories needs {n_options - 1} "
                f"thresholds b, got {len(b)}"
            )
        if any(b2 <= b1 for b1, b2 in itertools.pairwise(b)):
            raise InvalidInput(f"{where}GRM thresholds b must increase strictly")
    else:
        if p.model == "grm":
            raise InvalidInput(f"{where}model 'grm' is for graded items; this item is keyed")
        if len(b) != 1:
            raise InvalidInput(f"{where}a keyed item takes one threshold b, got {len(b)}")
    if p.c and p.model != "3pl":
        raise InvalidInput(f"{where}a lower asymptote c is only estimated by the 3PL model")
    return b, [-p.a * x for x in b]


# ------------------------------------------------------------------------------ writes
async def _insert_version(conn: AsyncConnection[Any], row: dict[str, Any], by: str) -> None:
    await conn.execute(
        "insert into content.item_versions (item_id, version, stem, options, answer_key, scoring,"
        " skills, media, status, created_by) values (%s, %s, %s, %s::jsonb, %s, %s, %s, %s::jsonb,"
        " %s, %s)",
        (
            row["item_id"],
            row["version"],
            row["stem"],
            json.dumps(list(row["options"])),
            row["answer_key"],
            row["scoring"],
            list(row["skills"]),
            json.dumps(row["media"] if isinstance(row["media"], list) else []),
            row["status"],
            by,
        ),
    )


async def _insert_item(
    conn: AsyncConnection[Any],
    owner_id: str,
    data: CreateItemRequest | ImportItem,
    item_id: uuid.UUID,
    where: str = "",
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    media = await media_refs.resolve(conn, str(item_id), data.media, where)
    cur = await conn.execute(
        "insert into content.items (item_id, owner_id, stem, options, answer_key, skills, status,"
        " scoring, media) values (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s::jsonb)"
        f" returning {_COLUMNS}",
        (
            item_id,
            owner_id,
            data.stem,
            json.dumps(data.options),
            data.answer_key,
            sorted(set(data.skills)),
            data.status,
            data.scoring,
            json.dumps(media),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    await _insert_version(conn, row, owner_id)
    await outbox.append(
        conn,
        ItemCreatedV1(
            item_id=str(item_id),
            owner_id=owner_id,
            skills=list(row["skills"]),
            created_at=row["created_at"],
        ),
    )
    params = None
    if data.parameters is not None:
        params = await _add_parameters(conn, str(item_id), data.parameters, data.scoring, row)
    return dict(row), params


async def create_item(state: AppState, owner_id: str, data: CreateItemRequest) -> Item:
    check_answer(data.scoring, data.options, data.answer_key)
    if data.parameters is not None:
        check_parameters(data.parameters, data.scoring, len(data.options))
    async with state.pool.connection() as conn, conn.transaction():
        row, params = await _insert_item(conn, owner_id, data, new_id())
    return _item(row, params)


async def _load_item(
    conn: AsyncConnection[Any], item_id: str, *, lock: bool = False
) -> dict[str, Any]:
    cur = await conn.execute(
        f"select {_COLUMNS} from content.items where item_id = %s"
        + (" for update" if lock else ""),
        (item_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"item {item_id} not found")
    return dict(row)


async def _live_parameters(conn: AsyncConnection[Any], item_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"select {_PARAM_COLUMNS} from content.item_parameters where item_id = %s and is_live",
        (item_id,),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def get_item(state: AppState, item_id: str) -> Item:
    async with state.pool.connection() as conn:
        row = await _load_item(conn, item_id)
        return _item(row, await _live_parameters(conn, item_id))


async def update_item(state: AppState, item_id: str, by: str, data: UpdateItemRequest) -> Item:
    """Apply the changes as a new version (no change = no new version)."""
    async with state.pool.connection() as conn, conn.transaction():
        row = await _load_item(conn, item_id, lock=True)
        if data.expected_version is not None and data.expected_version != row["version"]:
            raise Conflict(
                f"item {item_id} is at version {row['version']}, not {data.expected_version}; "
                "reload it and retry"
            )
        new = dict(row)
        for name in ("stem", "options", "answer_key", "skills", "status"):
            value = getattr(data, name)
            if value is not None:
                new[name] = sorted(set(value)) if name == "skills" else value
        if data.media is not None:
            new["media"] = await media_refs.resolve(conn, item_id, data.media)
        if data.options is not None and len(data.options) != len(row["options"]):
            cur = await conn.execute(
                "select 1 from content.item_parameters where item_id = %s limit 1", (item_id,)
            )
            if await cur.fetchone() is not None and row["scoring"] == "graded":
                raise InvalidInput(
                    "changing the number of categories of a calibrated graded item would "
                    "invalidate its parameters; create a new item instead"
                )
        check_answer(new["scoring"], list(new["options"]), new["answer_key"])
        keys = ("stem", "options", "answer_key", "skills", "status", "media")
        if all(_same(new[k], row[k]) for k in keys):
            return _item(row, await _live_parameters(conn, item_id))
        cur = await conn.execute(
            "update content.items set stem = %s, options = %s::jsonb, answer_key = %s, skills = %s,"
            " status = %s, media = %s::jsonb, version = version + 1, updated_at = now()"
            f" where item_id = %s returning {_COLUMNS}",
            (
                new["stem"],
                json.dumps(list(new["options"])),
                new["answer_key"],
                list(new["skills"]),
                new["status"],
                json.dumps(new["media"]),
                item_id,
            ),
        )
        updated = await cur.fetchone()
        assert updated is not None
        await _insert_version(conn, updated, by)
        await outbox.append(
            conn,
            ItemUpdatedV1(
                item_id=item_id,
                owner_id=updated["owner_id"],
                version=updated["version"],
                status=updated["status"],
                skills=list(updated["skills"]),
                updated_at=updated["updated_at"],
            ),
        )
        return _item(updated, await _live_parameters(conn, item_id))


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


async def item_versions(state: AppState, item_id: str) -> list[ItemVersion]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select item_id::text, version, stem, options, answer_key, scoring, skills, media,"
            " status, created_by::text, created_at from content.item_versions"
            " where item_id = %s order by version",
            (item_id,),
        )
        rows = await cur.fetchall()
    return [
        ItemVersion(
            r["item_id"],
            r["version"],
            r["stem"],
            list(r["options"]),
            r["answer_key"],
            r["scoring"],
            list(r["skills"]),
            _media(r["media"]),
            r["status"],
            r["created_by"],
            r["created_at"],
        )
        for r in rows
    ]


async def list_items(
    state: AppState,
    owner_id: str,
    *,
    status: str | None,
    skill: str | None,
    limit: int,
    after: str | None,
) -> ItemPage:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {', '.join('i.' + c for c in _COLUMNS.split(', '))},"
            " to_jsonb(p) - 'item_id' as live from content.items i"
            " left join content.item_parameters p on p.item_id = i.item_id and p.is_live"
            " where i.owner_id = %s and (%s::text is null or i.status = %s)"
            " and (%s::text is null or %s = any(i.skills))"
            " and (%s::uuid is null or i.item_id > %s::uuid)"
            " order by i.item_id limit %s",
            (owner_id, status, status, skill, skill, after, after, limit + 1),
        )
        rows = await cur.fetchall()
    items = [_item(r, _live_from_json(r["live"])) for r in rows[:limit]]
    return ItemPage(items, items[-1].item_id if len(rows) > limit else None)


def _live_from_json(live: dict[str, Any] | None) -> dict[str, Any] | None:
    if not live:
        return None
    from datetime import datetime

    out = dict(live)
    for key in ("created_at", "promoted_at"):
        if out.get(key) is not None:
            out[key] = datetime.fromisoformat(out[key])
    out["param_id"] = str(out["param_id"])
    return out


# ------------------------------------------------------------------------------ parameters
async def _add_parameters(
    conn: AsyncConnection[Any],
    item_id: str,
    p: ParametersIn,
    scoring: str,
    item_row: dict[str, Any],
) -> dict[str, Any]:
    b, d = check_parameters(p, scoring, len(item_row["options"]))
    await item_parameters_lock(item_id).hold(conn)
    cur = await conn.execute(
        "select calibration_id from content.item_parameters where item_id = %s and"
        " calibration_id = %s",
        (item_id, p.calibration_id),
    )
    if await cur.fetchone() is not None:
        raise Conflict(
            f"item {item_id} already has parameters from calibration {p.calibration_id!r}; "
            "use a new calibration_id for a new version"
        )
    cur = await conn.execute(
        "insert into content.item_parameters (param_id, item_id, version, calibration_id, model,"
        " a, b, c, d, provenance) values (%s, %s, (select coalesce(max(version), 0) + 1 from"
        " content.item_parameters where item_id = %s), %s, %s, %s, %s, %s, %s, %s::jsonb)"
        f" returning {_PARAM_COLUMNS}",
        (
            new_id(),
            item_id,
            item_id,
            p.calibration_id,
            p.model,
            p.a,
            b,
            p.c,
            d,
            json.dumps(p.provenance),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    await outbox.append(
        conn,
        ItemParametersAddedV1(
            param_id=row["param_id"],
            item_id=item_id,
            version=row["version"],
            calibration_id=p.calibration_id,
            model=p.model,
            a=p.a,
            b=b,
            c=p.c,
            created_at=row["created_at"],
        ),
    )
    if p.promote:
        return await _promote(conn, item_id, row["version"])
    return dict(row)


async def _promote(conn: AsyncConnection[Any], item_id: str, version: int) -> dict[str, Any]:
    cur = await conn.execute(
        "select param_id::text from content.item_parameters where item_id = %s and is_live"
        " for update",
        (item_id,),
    )
    previous = await cur.fetchone()
    await conn.execute(
        "update content.item_parameters set is_live = false where item_id = %s and is_live",
        (item_id,),
    )
    cur = await conn.execute(
        "update content.item_parameters set is_live = true, promoted_at = now()"
        f" where item_id = %s and version = %s returning {_PARAM_COLUMNS}",
        (item_id, version),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"item {item_id} has no parameter version {version}")
    await outbox.append(
        conn,
        ItemParametersPromotedV1(
            param_id=row["param_id"],
            item_id=item_id,
            version=version,
            calibration_id=row["calibration_id"],
            previous_param_id=previous["param_id"] if previous else None,
            promoted_at=row["promoted_at"],
        ),
    )
    return dict(row)


async def add_parameters(state: AppState, item_id: str, data: ParametersIn) -> Parameters:
    async with state.pool.connection() as conn, conn.transaction():
        row = await _load_item(conn, item_id)
        return _parameters(await _add_parameters(conn, item_id, data, row["scoring"], row))


async def promote_parameters(state: AppState, item_id: str, version: int) -> Parameters:
    async with state.pool.connection() as conn, conn.transaction():
        await _load_item(conn, item_id)
        await item_parameters_lock(item_id).hold(conn)
        return _parameters(await _promote(conn, item_id, version))


async def list_parameters(state: AppState, item_id: str) -> list[Parameters]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_PARAM_COLUMNS} from content.item_parameters where item_id = %s"
            " order by version",
            (item_id,),
        )
        return [_parameters(r) for r in await cur.fetchall()]


# ------------------------------------------------------------------------------ import / export
def parse_csv(text: str) -> list[ImportItem]:
    """CSV rows → import items. `options` and `media` are JSON; `skills`/`b` use `;`."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise InvalidInput("the CSV is empty; expected a header row with " + ", ".join(CSV_FIELDS))
    unknown = sorted(set(reader.fieldnames) - set(CSV_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown CSV columns {unknown}; allowed: {', '.join(CSV_FIELDS)}")
    for needed in ("stem", "options"):
        if needed not in reader.fieldnames:
            raise InvalidInput(f"the CSV needs a {needed!r} column")
    out: list[ImportItem] = []
    errors: list[str] = []
    for n, raw in enumerate(reader, start=2):
        try:
            out.append(_csv_row(raw))
        except msgspec.ValidationError as exc:
            errors.append(f"line {n}: {humanize(str(exc), ImportItem)}")
        except ValueError as exc:
            errors.append(f"line {n}: {exc}")
        if len(errors) >= 20:
            break
    if errors:
        raise InvalidInput("invalid CSV rows: " + "; ".join(errors))
    if not out:
        raise InvalidInput("the CSV has a header but no items")
    return out


def _csv_row(raw: dict[str, str | None]) -> ImportItem:
    def cell(name: str) -> str:
        value = raw.get(name)
        return value.strip() if isinstance(value, str) else ""

    row: dict[str, Any] = {"stem": cell("stem")}
    try:
        row["options"] = json.loads(cell("options"))
        if cell("media"):
            row["media"] = json.loads(cell("media"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"options/media must be JSON arrays ({exc})") from None
    except RecursionError:
        raise ValueError("options/media are nested too deeply") from None
    for name in ("item_id", "scoring", "status"):
        if cell(name):
            row[name] = cell(name)
    if cell("answer_key"):
        row["answer_key"] = int(cell("answer_key"))
    if cell("skills"):
        row["skills"] = [s.strip() for s in cell("skills").split(";") if s.strip()]
    if cell("model"):
        params: dict[str, Any] = {"model": cell("model")}
        thresholds = [float(x) for x in cell("b").split(";") if x.strip()]
        if not thresholds:
            raise ValueError("a row with a model needs thresholds in column b")
        params["b"] = thresholds if len(thresholds) > 1 else thresholds[0]
        if cell("a"):
            params["a"] = float(cell("a"))
        if cell("c"):
            params["c"] = float(cell("c"))
        params["calibration_id"] = cell("calibration_id") or "import"
        row["parameters"] = params
    bad = unstorable_path(row)
    if bad is not None:
        raise ValueError(f"{bad}: contains a NUL or an unpaired surrogate, which is not allowed")
    return msgspec.convert(row, ImportItem)


async def import_items(state: AppState, owner_id: str, items: list[ImportItem]) -> ImportResult:
    """All or nothing: every row is validated first; errors name the row (1-based)."""
    errors: list[str] = []
    ids: list[uuid.UUID] = []
    for n, item in enumerate(items, start=1):
        where = f"item {n}: "
        try:
            check_answer(item.scoring, item.options, item.answer_key, where)
            if item.parameters is not None:
                check_parameters(item.parameters, item.scoring, len(item.options), where)
            for k, ref in enumerate(item.media):
                media_refs.check_shape(ref, f"{where}media[{k}]")
            ids.append(uuid.UUID(item.item_id) if item.item_id else new_id())
        except InvalidInput as exc:
            errors.append(exc.message)
        except ValueError:
            errors.append(f"{where}item_id {item.item_id!r} is not a UUID")
        if len(errors) >= 20:
            break
    if errors:
        raise InvalidInput("nothing imported: " + "; ".join(errors))
    if len({str(i) for i in ids}) != len(ids):
        raise InvalidInput("nothing imported: the same item_id appears twice")
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "select item_id::text from content.items where item_id = any(%s::uuid[])",
            ([str(i) for i in ids],),
        )
        taken = [r["item_id"] for r in await cur.fetchall()]
        if taken:
            raise Conflict("nothing imported: these item ids already exist: " + ", ".join(taken))
        async with conn.pipeline():
            for n, (item, item_id) in enumerate(zip(items, ids, strict=True), start=1):
                await _insert_item(conn, owner_id, item, item_id, f"item {n}: ")
    return ImportResult(len(ids), [str(i) for i in ids])


async def export_items(state: AppState, owner_id: str) -> list[dict[str, Any]]:
    """The owner's bank in the import shape (with ids and live parameters)."""
    page = await list_items(state, owner_id, status=None, skill=None, limit=1_000_000, after=None)
    out: list[dict[str, Any]] = []
    for item in page.items:
        row: dict[str, Any] = {
            "item_id": item.item_id,
            "stem": item.stem,
            "options": item.options,
            "answer_key": item.answer_key,
            "scoring": item.scoring,
            "skills": item.skills,
            "status": item.status,
            "media": msgspec.to_builtins(item.media),
        }
        if item.parameters is not None:
            p = item.parameters
            row["parameters"] = {
                "model": p.model,
                "a": p.a,
                "b": p.b if len(p.b) > 1 else p.b[0],
                "c": p.c,
                "calibration_id": p.calibration_id,
                "provenance": p.provenance,
            }
        out.append(row)
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        p = r.get("parameters") or {}
        b = p.get("b")
        writer.writerow(
            {
                "item_id": r["item_id"],
                "stem": r["stem"],
                "options": json.dumps(r["options"], ensure_ascii=False),
                "answer_key": "" if r["answer_key"] is None else r["answer_key"],
                "scoring": r["scoring"],
                "skills": ";".join(r["skills"]),
                "status": r["status"],
                "media": json.dumps(r["media"], ensure_ascii=False) if r["media"] else "",
                "model": p.get("model", ""),
                "a": p.get("a", ""),
                "b": ";".join(str(x) for x in b)
                if isinstance(b, list)
                else ("" if b is None else b),
                "c": p.get("c", ""),
                "calibration_id": p.get("calibration_id", ""),
            }
        )
    return buf.getvalue()
