"""IRT parameters of bank items: versioned per calibration, one promoted ("live") row per item.
Writes take the item's parameter lock (`core.db.item_parameters_lock`), as the calibration job
does, and append their outbox event in the caller's transaction."""

from __future__ import annotations

import itertools
import json
from typing import Any

from psycopg import AsyncConnection

from apis.content.schemas import Parameters, ParametersIn
from apis.state import AppState
from core import outbox
from core.db import item_parameters_lock
from core.errors import Conflict, InvalidInput, NotFound
from core.events import ItemParametersAddedV1, ItemParametersPromotedV1, parameter_provenance
from core.ids import new_id

PARAM_COLUMNS = (
    "param_id::text, item_id::text, version, calibration_id, model, a, b, c, d, provenance,"
    " is_live, created_at, promoted_at"
)


def parameters_of(row: dict[str, Any]) -> Parameters:
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


async def live_parameters(conn: AsyncConnection[Any], item_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"select {PARAM_COLUMNS} from content.item_parameters where item_id = %s and is_live",
        (item_id,),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def insert_parameters(
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
        f" returning {PARAM_COLUMNS}",
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
            **parameter_provenance(p.provenance),
        ),
    )
    if p.promote:
        return await promote(conn, item_id, row["version"])
    return dict(row)


async def promote(conn: AsyncConnection[Any], item_id: str, version: int) -> dict[str, Any]:
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
        f" where item_id = %s and version = %s returning {PARAM_COLUMNS}",
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


async def list_parameters(state: AppState, item_id: str) -> list[Parameters]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {PARAM_COLUMNS} from content.item_parameters where item_id = %s"
            " order by version",
            (item_id,),
        )
        return [parameters_of(r) for r in await cur.fetchall()]
