from datetime import UTC, datetime, timedelta

import jwt
import pytest

from core.auth import decode_token, hash_password, issue_token, verify_password
from core.errors import Unauthenticated
from core.events import EVENT_TYPES, AttemptCompletedV1, decode_payload, encode_payload
from core.ids import new_id

SECRET = "unit-test-secret-" + "x" * 32


def test_new_ids_are_version_7_and_unique() -> None:
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i.version == 7 for i in ids)


def test_event_names_follow_the_convention_and_round_trip() -> None:
    for name in EVENT_TYPES:
        _domain, _entity, verb, version = name.split(".")
        assert version.startswith("v") and verb.endswith("ed")
    now = datetime.now(UTC)
    event = AttemptCompletedV1(
        attempt_id="a",
        exam_id="e",
        student_id="s",
        class_id=None,
        raw_score=2,
        max_score=3,
        started_at=now,
        completed_at=now,
    )
    assert decode_payload(event.event_type, encode_payload(event)) == event
    assert event.aggregate_id == "a"


def test_passwords_hash_and_verify() -> None:
    hashed = hash_password("correct horse")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("not-a-hash", "x")


def test_tokens_check_type_expiry_and_signature() -> None:
    token, _claims = issue_token(SECRET, "u1", "student", "access", timedelta(minutes=5))
    assert decode_token(SECRET, token, "access").user_id == "u1"
    with pytest.raises(Unauthenticated, match="expected an refresh token"):
        decode_token(SECRET, token, "refresh")
    with pytest.raises(Unauthenticated, match="invalid token"):
        decode_token("other", token, "access")
    expired, _ = issue_token(SECRET, "u1", "student", "access", timedelta(seconds=-5))
    with pytest.raises(Unauthenticated, match="expired"):
        decode_token(SECRET, expired, "access")
    unsigned = jwt.encode(
        {"sub": "u1", "jti": "x", "exp": 9999999999, "typ": "access"}, None, "none"
    )
    with pytest.raises(Unauthenticated):
        decode_token(SECRET, unsigned, "access")
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        issue_token("", "u1", "student", "access", timedelta(minutes=5))


def test_cached_decoding_verifies_once_and_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import auth

    token, claims = issue_token(SECRET, "u2", "teacher", "access", timedelta(seconds=30))
    calls: list[str] = []
    real = auth.decode_token

    def counting(secret: str, tok: str, expected: auth.TokenType) -> auth.Claims:
        calls.append(tok)
        return real(secret, tok, expected)

    monkeypatch.setattr(auth, "decode_token", counting)
    first = auth.decode_token_cached(SECRET, token, "access")
    assert (first.user_id, first.token_id) == ("u2", claims.token_id)
    assert auth.decode_token_cached(SECRET, token, "access") is first
    assert len(calls) == 1  # verified once
    # Another secret or another expected type is another key: verified (and refused) afresh.
    with pytest.raises(Unauthenticated, match="invalid token"):
        auth.decode_token_cached("other", token, "access")
    with pytest.raises(Unauthenticated, match="expected an refresh token"):
        auth.decode_token_cached(SECRET, token, "refresh")
    # Past its expiry the remembered token is refused like any expired one.
    monkeypatch.setattr(auth.time, "time", lambda: claims.expires_at.timestamp() + 1)
    with pytest.raises(Unauthenticated, match="expired"):
        auth.decode_token_cached(SECRET, token, "access")
