"""The model path against a real local HTTP server speaking the OpenAI streaming protocol
(tests/support/fake_llm.py): streamed, cited answers; names and e-mails replaced before leaving;
5xx, malformed chunks, a slow first token and a hang all end in the grounded fallback within the
timeout; the circuit breaker opens after its threshold, answers at once while open, and closes
again when the server recovers; its state and the failures are Prometheus metrics."""

from __future__ import annotations

import asyncio
import re

import pytest
from litestar.testing import AsyncTestClient

from apis.tutor.answers import FALLBACK_LABEL
from core.settings import Settings
from tests.integration.tutor.conftest import client_with_model
from tests.integration.tutor.helpers import ask, build_world, open_conversation
from tests.support.fake_llm import ECHO_PREFIX, FakeModel

pytestmark = pytest.mark.integration

QUESTION = "How does a while loop know when to stop?"


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_model_answer_streams_with_citations_and_scrubbed_names(
    model_client: AsyncTestClient, model: FakeModel
) -> None:
    world = await build_world(model_client, mode="open")
    conv = await open_conversation(model_client, world.student, class_id=world.class_id)
    question = (
        f"{QUESTION} My friend Seoyeon Lee ({world.classmate.email}) and Mr Park Jiwoo disagree."
    )
    answer = await ask(model_client, world.student, conv, question)
    assert answer.done["kind"] == "model" and answer.done["reason"] == "allowed"
    assert answer.text.startswith(ECHO_PREFIX) and answer.tokens > 10
    assert answer.citations[0]["section"] == "The while loop"
    received = model.everything_received()
    assert "[Loops › The while loop]" in received  # the grounding reached the model, labelled
    for secret in ("Seoyeon", "Lee", world.classmate.email, "Park Jiwoo", "Minji"):
        assert secret not in received, secret
    assert "[name]" in received and "[email]" in received
    request = model.chat_requests()[-1]["body"]
    assert request["stream"] is True and request["model"] == "scripted"


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("error", "model_status"),
        ("malformed", "model_malformed"),
        ("slow_first", "model_first_token_timeout"),
        ("hang", "model_first_token_timeout"),
        ("unavailable", "model_unavailable"),
    ],
)
async def test_failures_end_in_the_grounded_fallback_within_the_timeout(
    settings: Settings, model: FakeModel, behaviour: str, reason: str
) -> None:
    model.behaviour, model.delay = behaviour, 2.0
    async with client_with_model(
        settings, model, first_token_timeout_ms=400, breaker_threshold=50
    ) as client:
        world = await build_world(client, mode="open")
        conv = await open_conversation(client, world.student, class_id=world.class_id)
        answer = await ask(client, world.student, conv, QUESTION)
        # The first-token timeout (0.4 s) ended the wait, not the server: it would hold a hang
        # for an hour and a slow first token for 2 s. The turn says so (no clock is read here):
        # the reason names the timeout, the answer is the labelled fallback, and not one word
        # of the model's reply past a malformed chunk reached the student.
        assert answer.done["kind"] == "fallback" and answer.done["reason"] == reason
        assert FALLBACK_LABEL in answer.text and answer.citations
        assert ECHO_PREFIX not in answer.text
        metrics = (await client.get("/metrics")).text
        kind = reason.removeprefix("model_")
        assert metric(metrics, "dreamseed_tutor_model_failures_total", f'{{kind="{kind}"}}') == 1
    # A 503 before any content is retried once (safe: nothing was streamed); others are not.
    assert len(model.chat_requests()) == (2 if behaviour == "unavailable" else 1)


async def test_breaker_opens_on_down_and_hang_and_closes_on_recovery(
    settings: Settings, model: FakeModel
) -> None:
    async with client_with_model(
        settings, model, first_token_timeout_ms=300, breaker_threshold=2, breaker_ttl_seconds=1
    ) as client:
        world = await build_world(client, mode="open")
        conv = await open_conversation(client, world.student, class_id=world.class_id)

        async def breaker_state() -> float:
            text = (await client.get("/metrics")).text
            return metric(text, "dreamseed_tutor_breaker_state")

        model.behaviour = "down"  # the connection is dropped
        first = await ask(client, world.student, conv, QUESTION)
        assert first.done["reason"] == "model_transport"
        assert await breaker_state() == 0  # one failure: still closed
        model.behaviour = "hang"
        second = await ask(client, world.student, conv, QUESTION)
        assert second.done["reason"] == "model_first_token_timeout"
        assert await breaker_state() == 2  # threshold reached: open

        calls = len(model.chat_requests())
        while_open = await ask(client, world.student, conv, QUESTION)
        assert while_open.done == {**while_open.done, "kind": "fallback", "reason": "breaker_open"}
        assert len(model.chat_requests()) == calls  # the model was not called

        model.behaviour = "echo"  # the server recovers
        await asyncio.sleep(1.2)  # past the breaker's TTL: the next turn tries again
        recovered = await ask(client, world.student, conv, QUESTION)
        assert recovered.done["kind"] == "model"
        assert await breaker_state() == 0
        assert len(model.chat_requests()) == calls + 1


async def test_breaker_state_is_shared_through_redis(settings: Settings, model: FakeModel) -> None:
    """Two API processes (apps) with the shared breaker: failures seen by one open it for both."""
    model.behaviour = "error"
    tutor = {"breaker_shared": True, "breaker_threshold": 2, "breaker_ttl_seconds": 30}
    async with (
        client_with_model(settings, model, **tutor) as one,
        client_with_model(settings, model, **tutor) as two,
    ):
        world = await build_world(one, mode="open")
        conv = await open_conversation(one, world.student, class_id=world.class_id)
        for _ in range(2):
            assert (await ask(one, world.student, conv, QUESTION)).done["reason"] == "model_status"
        calls = len(model.chat_requests())
        other = await ask(two, world.student, conv, QUESTION)
        assert other.done["reason"] == "breaker_open"
        assert len(model.chat_requests()) == calls


async def test_class_token_budget_sends_later_turns_to_the_fallback(
    settings: Settings, model: FakeModel
) -> None:
    async with client_with_model(settings, model, class_daily_tokens=1) as client:
        world = await build_world(client, mode="open")
        conv = await open_conversation(client, world.student, class_id=world.class_id)
        first = await ask(client, world.student, conv, QUESTION)
        assert first.done["kind"] == "model"  # spends the class's budget for the day
        later = await ask(client, world.student, conv, QUESTION)
        assert later.done == {**later.done, "kind": "fallback", "reason": "budget_exhausted"}
        assert len(model.chat_requests()) == 1
