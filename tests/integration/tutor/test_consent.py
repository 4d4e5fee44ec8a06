"""Consent for external models (privacy.consent, policy `dreamseed.tutor.consent`): the tutor
asks before anything of a student's leaves for the model. Without consent the turn is the grounded
fallback labelled `no_consent`, and the scripted model's request log proves nothing was sent."""

from __future__ import annotations

import psycopg
import pytest

from apis.tutor.answers import NO_CONSENT_LABEL
from core.settings import Settings
from privacy.consent import set_opt_out
from tests.integration.tutor.conftest import client_with_model
from tests.integration.tutor.helpers import ask, build_world, open_conversation
from tests.support.fake_llm import ECHO_PREFIX, FakeModel

pytestmark = pytest.mark.integration

QUESTION = "How does a while loop know when to stop?"


async def test_school_off_sends_nothing(settings: Settings, model: FakeModel) -> None:
    async with client_with_model(settings, model, consent=False) as client:
        world = await build_world(client, mode="open")
        conv = await open_conversation(client, world.student, class_id=world.class_id)
        answer = await ask(client, world.student, conv, QUESTION)
    assert answer.done["kind"] == "fallback" and answer.done["reason"] == "no_consent"
    assert answer.text.startswith(NO_CONSENT_LABEL) and ECHO_PREFIX not in answer.text
    assert answer.citations[0]["section"] == "The while loop"  # still grounded in the course
    assert model.requests == []  # the model's request log: nothing was sent at all


async def test_school_on_but_student_opted_out(settings: Settings, model: FakeModel) -> None:
    async with client_with_model(settings, model, consent=True) as client:
        world = await build_world(client, mode="open")
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            set_opt_out(conn, world.student.user_id, True)
        conv = await open_conversation(client, world.student, class_id=world.class_id)
        answer = await ask(client, world.student, conv, f"{QUESTION} (asked by Minji Kim)")
        assert answer.done["kind"] == "fallback" and answer.done["reason"] == "no_consent"
        assert answer.text.startswith(NO_CONSENT_LABEL)
        assert model.requests == []  # nothing of hers left
        # Her classmate did not opt out: her turn reaches the model, and only hers does.
        other = await open_conversation(client, world.classmate, class_id=world.class_id)
        allowed = await ask(client, world.classmate, other, QUESTION)
        assert allowed.done["kind"] == "model" and allowed.done["reason"] == "allowed"
    received = model.everything_received()
    assert len(model.chat_requests()) == 1 and "asked by" not in received
    # Opting back in lets her turns through again.
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_opt_out(conn, world.student.user_id, False)
    async with client_with_model(settings, model, consent=True) as client:
        again = await ask(client, world.student, conv, QUESTION)
    assert again.done["kind"] == "model" and len(model.chat_requests()) == 2


async def test_school_on_and_student_in_reaches_the_model(
    settings: Settings, model: FakeModel
) -> None:
    async with client_with_model(settings, model, consent=True) as client:
        world = await build_world(client, mode="open")
        conv = await open_conversation(client, world.student, class_id=world.class_id)
        answer = await ask(client, world.student, conv, QUESTION)
    assert answer.done["kind"] == "model" and answer.done["reason"] == "allowed"
    assert answer.text.startswith(ECHO_PREFIX) and QUESTION in model.everything_received()
