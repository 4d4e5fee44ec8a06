"""`exams.exam.created.v1` carries the adaptive exam's exposure target (issue 18: the marts read
exams from the lake), and old events without it still decode (the field is optional)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from apis.exams.services import _exposure_target
from core.events import ClassCreatedV1, ExamCreatedV1, ItemCreatedV1


def test_the_exposure_target_comes_from_the_exams_config() -> None:
    assert _exposure_target({"exposure": {"method": "sympson-hetter", "max_rate": 0.25}}) == 0.25
    assert _exposure_target({"exposure": {"method": "none"}}) is None
    assert _exposure_target({"time_limit_seconds": 600}) is None
    assert _exposure_target(None) is None
    assert _exposure_target({"exposure": {"max_rate": True}}) is None  # not a number


def test_events_recorded_before_the_new_fields_still_decode_with_them_null() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC).isoformat()
    exam = msgspec.json.decode(
        msgspec.json.encode(
            {"exam_id": "e", "owner_id": "o", "class_id": None, "item_count": 3, "created_at": at}
        ),
        type=ExamCreatedV1,
    )
    assert exam.exposure_max_rate is None and exam.kind is None
    item = msgspec.json.decode(
        msgspec.json.encode({"item_id": "i", "owner_id": "o", "skills": [], "created_at": at}),
        type=ItemCreatedV1,
    )
    assert (item.version, item.status, item.scoring, item.option_count) == (None,) * 4
    klass = msgspec.json.decode(
        msgspec.json.encode({"class_id": "c", "teacher_id": "t", "created_at": at}),
        type=ClassCreatedV1,
    )
    assert klass.name is None
