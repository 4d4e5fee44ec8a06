"""Import and export of a teacher's item bank: CSV in the import shape, all or nothing."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import msgspec

from apis.content import media_refs
from apis.content.parameters import check_parameters
from apis.content.schemas import ImportItem, ImportResult
from apis.content.services import check_answer, insert_item, list_items
from apis.gateway.input_hygiene import unstorable_path
from apis.state import AppState
from apis.validation import humanize
from core.errors import Conflict, InvalidInput
from core.ids import new_id

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
                await insert_item(conn, owner_id, item, item_id, f"item {n}: ")
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
