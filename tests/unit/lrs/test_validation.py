"""Statement validation (no I/O): each xAPI rule a statement can break is a 400 naming the
property; valid statements pass unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from apis.lrs import agents, validation
from apis.lrs.store import comparable, duration_seconds, short_verb
from core.errors import InvalidInput


def good(**extra: Any) -> dict[str, Any]:
    return {
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "done"}},
        "object": {"id": "http://example.com/activity"},
        **extra,
    }


def test_valid_statements_pass() -> None:
    validation.statement(good())
    validation.statement(good(result={"score": {"scaled": -1, "raw": 3, "min": 0, "max": 5},
                                      "duration": "P1DT2H3M4.5S", "success": True}))  # fmt: skip
    validation.statement(good(timestamp="2024-05-01T08:00:00.123+09:00"))
    validation.statement(good(actor={"objectType": "Group", "member": [{"openid": "http://id/1"}]}))
    validation.statement(good(object={"objectType": "SubStatement", **good()}))
    validation.statement(good(context={"registration": "6f1d8d1e-5f43-4c4b-9a43-2d3b1c0e7a10",
                                       "contextActivities": {"parent": {"id": "http://x.y/p"}},
                                       "language": "ko-KR"}))  # fmt: skip


@pytest.mark.parametrize(
    ("statement", "where"),
    [
        (good(actor={"mbox": "a@example.com"}), "actor.mbox"),
        (good(actor={"mbox": "mailto:a@b.c", "mbox_sha1sum": "a" * 40}), "actor"),
        (good(actor={"name": "nobody"}), "actor"),
        (good(actor={"account": {"homePage": "http://x.y"}}), "actor.account"),
        (good(actor={"objectType": "Group"}), "actor.member"),
        (good(verb={"id": "completed"}), "verb.id"),
        (good(verb={"id": "http://x.y/v", "display": {"en-US": 3}}), "verb.display.en-US"),
        (good(object={"objectType": "Activity"}), "object.id"),
        (good(object={"objectType": "StatementRef", "id": "nope"}), "object.id"),
        (
            good(
                object={
                    "objectType": "SubStatement",
                    **good(object={"objectType": "SubStatement", **good()}),
                }
            ),
            "object.object.objectType",
        ),
        (good(result={"score": {"scaled": 1.01}}), "result.score.scaled"),
        (good(result={"score": {"raw": 6, "min": 0, "max": 5}}), "result.score.raw"),
        (good(result={"score": {"min": 5, "max": 5}}), "result.score.min"),
        (good(result={"duration": "PT"}), "result.duration"),
        (good(result={"success": "yes"}), "result.success"),
        (good(timestamp="2024-05-01T08:00:00-00:00"), "timestamp"),
        (good(timestamp="May 1st"), "timestamp"),
        (good(context={"registration": "r"}), "context.registration"),
        (
            good(
                object={"objectType": "Agent", "mbox": "mailto:x@y.z"}, context={"platform": "web"}
            ),
            "context.platform",
        ),
        (good(version="2.0.0"), "version"),
        (good(extra=1), "extra"),
        (good(result=None), "result"),
        (
            good(attachments=[{"usageType": "http://x.y/u", "display": {"en-US": "a"}}]),
            "attachments[0].contentType",
        ),
        (
            good(verb={"id": "http://adlnet.gov/expapi/verbs/voided"}),
            "object",
        ),
    ],
)
def test_each_rule_names_its_property(statement: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validation.statement(statement)
    assert caught.value.message.startswith(f"{where}:"), caught.value.message


def test_a_batch_names_the_statement() -> None:
    with pytest.raises(InvalidInput, match=r"^\[2\]\.verb\.id:"):
        validation.statement(good(verb={"id": "x"}), "[2]")


def test_ifi_keys_and_platform_accounts() -> None:
    assert agents.ifi_key({"mbox": "mailto:A@B.c"}) == "mbox:mailto:a@b.c"
    account = {
        "account": {"homePage": agents.ACCOUNT_HOME, "name": "6F1D8D1E-5F43-4C4B-9A43-2D3B1C0E7A10"}
    }
    assert agents.platform_user(account) == "6f1d8d1e-5f43-4c4b-9a43-2d3b1c0e7a10"
    assert agents.platform_user({"mbox": "mailto:a@b.c"}) is None
    group = {"objectType": "Group", "member": [{"mbox": "mailto:b@c.d"}, {"mbox": "mailto:a@c.d"}]}
    assert agents.actor_key(group).startswith("group:")
    assert agents.keys_of(group)[1:] == ["mbox:mailto:b@c.d", "mbox:mailto:a@c.d"]


def test_comparison_duration_and_verb_names() -> None:
    stored = {**good(), "id": "ABC", "stored": "x", "authority": {}, "version": "1.0.3"}
    assert comparable(stored) == comparable({**good(), "id": "abc"})
    assert comparable({**stored, "timestamp": "t"}, timestamp=False) == comparable(good(id="abc"))
    assert duration_seconds("PT1M30S") == pytest.approx(90.0)
    assert duration_seconds("P1DT0.5S") == pytest.approx(86400.5)
    assert duration_seconds("soon") is None
    assert short_verb("http://adlnet.gov/expapi/verbs/completed") == "completed"
