"""Validation messages name the field and say what is wrong in words (no regexes, no `$.`)."""

from __future__ import annotations

import msgspec
import pytest

from apis.content.schemas import CreateItemRequest
from apis.exams.schemas import CreateExamRequest
from apis.gateway.input_hygiene import check_json, check_query, check_text
from apis.users.schemas import RegisterRequest
from apis.validation import humanize
from core.errors import InvalidInput

ITEM = b'{"stem": "s", "options": ["a", "b"]'
EXAM_ID = "2b1e1b1e-1111-4111-8111-111111111111"


def _message(body: bytes, body_type: type) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(body, type=body_type, strict=True)
    return humanize(str(caught.value), body_type)


@pytest.mark.parametrize(
    ("body", "body_type", "expected"),
    [
        (ITEM + b', "answer_key": "1"}', CreateItemRequest, "answer_key: must be an integer, not a string"),
        (ITEM + b', "answer_key": -1}', CreateItemRequest, "answer_key: must be at least 0"),
        (ITEM + b', "status": "x"}', CreateItemRequest, "status: 'x' is not one of 'operational', 'pilot'"),
        (ITEM + b', "skills": ["A B"]}', CreateItemRequest, "skills[0]: not a skill name (lowercase letters, digits, '_', '.' and '-')"),
        (ITEM + b', "extra": 1}', CreateItemRequest, "extra: is not a field of this request"),
        (b'{"options": ["a", "b"]}', CreateItemRequest, "stem: is required"),
        (b'{"stem": "", "options": ["a", "b"]}', CreateItemRequest, "stem: must not be empty"),
        (b'{"stem": "s", "options": ["a"]}', CreateItemRequest, "options: must have at least 2 entries"),
        (b"[]", CreateItemRequest, "body: must be an object, not a list"),
        (b'{"email": "nope", "password": "longenough", "display_name": "d"}', RegisterRequest, "email: not a valid e-mail address"),
        (b'{"title": "t", "item_ids": ["x"]}', CreateExamRequest, "item_ids[0]: not a valid UUID"),
        (b'{"title": "t", "item_ids": ["' + EXAM_ID.encode() + b'"], "adaptive": {"exposure": {"method": "x"}}}', CreateExamRequest, "adaptive.exposure.method: 'x' is not one of 'none', 'randomesque', 'sympson-hetter'"),
        (b'{"title": "t", "item_ids": ["' + EXAM_ID.encode() + b'"], "adaptive": {"blueprint": {"A": 0.5}}}', CreateExamRequest, "adaptive.blueprint: a key is not a skill name"),
    ],
)  # fmt: skip
def test_body_messages(body: bytes, body_type: type, expected: str) -> None:
    message = _message(body, body_type)
    assert message.startswith(expected), message
    assert "regex" not in message and "$" not in message and "`" not in message


def test_parameter_messages_use_the_parameter_name() -> None:
    assert humanize("Expected `int` <= 1000", where="limit") == "limit: must be at most 1000"
    assert humanize("Invalid UUID", where="after") == "after: not a valid UUID"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": {"b": ["x", "y\\u0000"]}}', "a.b[1]: contains a NUL"),
        (b'{"k\\u0000": 1}', "k\\u0000 (a key): contains a NUL"),
        (b'{"k\xff": 1}', "k\\xff (a key): not valid UTF-8"),
        (b'{"name": "\xff\xfe"}', "name: not valid UTF-8"),
        (b"[" * 65 + b"]" * 65, "body: JSON nested deeper than 64"),
    ],
)
def test_json_checks_name_the_field(body: bytes, expected: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_json(body)
    assert caught.value.message.startswith(expected), caught.value.message


def test_json_checks_pass_good_bodies() -> None:
    check_json(b'{"a": "\\\\u0000 is an escaped backslash", "b": "[[[[ {{{{ \xed\x95\x9c"}')


def test_query_and_text_checks() -> None:
    with pytest.raises(InvalidInput, match="query parameter skill: contains a NUL"):
        check_query(b"limit=5&skill=a%00b")
    with pytest.raises(InvalidInput, match="query parameter q: not valid UTF-8"):
        check_query(b"q=%ff")
    check_query(b"skill=alg%C3%A9bre&limit=5")
    with pytest.raises(InvalidInput, match="body line 3: contains a NUL"):
        check_text(b"stem\nok\nbad\x00\n")
