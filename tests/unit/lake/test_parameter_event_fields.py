"""`content.item_parameters.added.v1` carries the calibration provenance the marts read (issue 18:
stg_content__item_parameters from the lake); events recorded before the fields existed decode
with them null, and free-form provenance never breaks the write."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import msgspec

from core.events import ItemParametersAddedV1, decode_payload, encode_payload, parameter_provenance
from lake.contracts import contract_columns

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE = {
    "param_id": "p",
    "item_id": "i",
    "version": 2,
    "calibration_id": "2pl-s1",
    "model": "2pl",
    "a": 1.2,
    "b": [0.3],
    "c": 0.0,
    "created_at": AT.isoformat(),
}
PIPELINE = {  # as orchestration/calibration/bank.py writes content.item_parameters.provenance
    "producer": "orchestration.calibration",
    "source_snapshot_id": "8417",
    "role": "pilot",
    "n_responses": 612,
    "se": {"a": 0.11, "b": 0.07},
    "fit": {"statistic": "S-X2", "value": 9.5, "df": 7, "p": 0.22},
}


def test_an_event_recorded_before_the_new_fields_decodes_with_them_null() -> None:
    event = decode_payload("content.item_parameters.added.v1", msgspec.json.encode(BASE))
    assert isinstance(event, ItemParametersAddedV1)
    assert (event.a, event.b, event.version) == (1.2, [0.3], 2)
    provenance = (
        event.source_snapshot_id,
        event.n_responses,
        event.role,
        event.se_a,
        event.se_b,
        event.sx2,
        event.sx2_df,
        event.sx2_p,
    )
    assert provenance == (None,) * 8


def test_the_new_fields_round_trip() -> None:
    event = ItemParametersAddedV1(
        **{**BASE, "b": [0.3], "created_at": AT},  # type: ignore[arg-type]
        **parameter_provenance(PIPELINE),
    )
    back = decode_payload(event.event_type, encode_payload(event))
    assert back == event
    assert isinstance(back, ItemParametersAddedV1)
    assert (back.source_snapshot_id, back.n_responses, back.role) == ("8417", 612, "pilot")
    assert math.isclose(back.se_a or 0, 0.11) and math.isclose(back.se_b or 0, 0.07)
    assert math.isclose(back.sx2 or 0, 9.5) and back.sx2_df == 7.0
    assert math.isclose(back.sx2_p or 0, 0.22)


def test_provenance_fields_from_free_form_provenance() -> None:
    assert parameter_provenance({}) == dict.fromkeys(
        ("source_snapshot_id", "n_responses", "role", "se_a", "se_b", "sx2", "sx2_df", "sx2_p")
    )
    odd = parameter_provenance(
        {
            "source_snapshot_id": 8417,  # a number: as the provenance JSON's text
            "n_responses": "many",
            "role": 3,
            "se": [0.1],
            "fit": {"value": True, "df": 4.0, "p": float("nan")},
        }
    )
    assert odd["source_snapshot_id"] == "8417"
    assert odd["n_responses"] is None and odd["role"] is None
    assert odd["se_a"] is None and odd["se_b"] is None
    assert odd["sx2"] is None and odd["sx2_df"] == 4.0 and odd["sx2_p"] is None
    assert parameter_provenance({"n_responses": 12.5})["n_responses"] is None


def test_the_silver_item_events_get_a_column_per_new_field() -> None:
    kinds = {c.name: c.kind for c in contract_columns(ItemParametersAddedV1)}
    assert {k: kinds[k] for k in ("source_snapshot_id", "n_responses", "role")} == {
        "source_snapshot_id": "string",
        "n_responses": "long",
        "role": "string",
    }
    assert {kinds[k] for k in ("se_a", "se_b", "sx2", "sx2_df", "sx2_p")} == {"double"}
