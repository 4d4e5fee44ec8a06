"""Failed sign-ins are throttled per account × client, per client and per account, over a real
HTTP server (uvicorn), real PostgreSQL and Redis.

Each test signs in from its own loopback addresses (127.x.y.z), so its windows are its own even
on a Redis shared with other test sessions. The window is short (settings) so the tests can wait
it out, yet long enough to hold every counted failure of a test on a slow machine (an argon2
check can take over a second on a loaded one); the limits are small for the same reason.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from apis.app import create_app
from core.settings import Settings
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration

WINDOW = 30
PER_PAIR, PER_ACCOUNT = 3, 6
LOGIN = "/api/v1/auth/login"


@pytest.fixture(scope="module")
def throttled(settings: Settings) -> Settings:
    return replace(
        settings,
        login_window_seconds=WINDOW,
        login_failures_per_account_client=PER_PAIR,
        login_failures_per_client=100,
        login_failures_per_account=PER_ACCOUNT,
        rate_limit_per_user=100_000,
        rate_limit_per_ip=100_000,
    )


@pytest.fixture(scope="module")
def api(throttled: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(throttled, ["users"], relay=False)) as url:
        yield url


def client_address() -> str:
    """A loopback address of this test's own (Linux routes all of 127/8 to lo)."""
    return "127.{}.{}.{}".format(*(secrets.randbelow(250) + 2 for _ in range(3)))


def from_address(api: str, address: str) -> httpx.Client:
    return httpx.Client(
        base_url=api, transport=httpx.HTTPTransport(local_address=address), timeout=30
    )


def register(api: str) -> tuple[str, str]:
    email = f"throttle-{secrets.token_hex(4)}@school.test"
    password = "correct horse " + secrets.token_hex(4)
    reply = httpx.post(
        api + "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": "T", "role": "student"},
    )
    assert reply.status_code == 201, reply.text
    return email, password


def sign_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(LOGIN, json={"email": email, "password": password})


def assert_throttled(reply: httpx.Response) -> int:
    assert reply.status_code == 429, reply.text
    retry_after = int(reply.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW
    assert reply.json()["error"]["status"] == 429
    return retry_after


def test_two_hundred_guesses_from_one_client(api: str) -> None:
    victim, victim_password = register(api)
    other, other_password = register(api)
    attacker = client_address()
    statuses: list[int] = []
    last_retry_after = 0
    with from_address(api, attacker) as client:
        for n in range(200):
            reply = sign_in(client, victim, f"guess-{n}")
            statuses.append(reply.status_code)
            if reply.status_code == 429:
                last_retry_after = assert_throttled(reply)
            else:
                assert reply.status_code == 401, reply.text
        throttled = statuses.count(429)
        assert throttled >= 190, f"only {throttled} of 200 guesses were throttled"
        assert "too many failed sign-ins" in sign_in(client, victim, "x").json()["error"]["message"]

        # Another account from the same client is unaffected.
        assert sign_in(client, other, other_password).status_code == 200
        # The victim, from another address, signs in during the attack.
        with from_address(api, client_address()) as elsewhere:
            assert sign_in(elsewhere, victim, victim_password).status_code == 200
        # The attacker's address is refused even with the right password until the window
        # passes; then the right password works from there too.
        assert_throttled(sign_in(client, victim, victim_password))
        time.sleep(last_retry_after + 1)
        assert sign_in(client, victim, victim_password).status_code == 200


def test_unknown_emails_are_throttled_like_known_ones(api: str) -> None:
    nobody = f"nobody-{secrets.token_hex(4)}@school.test"
    with from_address(api, client_address()) as client:
        statuses = [sign_in(client, nobody, f"guess-{n}").status_code for n in range(8)]
    assert statuses == [401] * PER_PAIR + [429] * (8 - PER_PAIR)


def test_a_distributed_attack_does_not_lock_out_a_known_client(api: str) -> None:
    """Guesses from many addresses fill the account-wide window: new addresses are refused, the
    address the victim signed in from before is not."""
    victim, password = register(api)
    home = client_address()
    with from_address(api, home) as client:
        assert sign_in(client, victim, password).status_code == 200
    statuses: list[int] = []
    for _ in range(3):  # 3 addresses × 3 guesses = 9 > the account-wide limit of 6
        with from_address(api, client_address()) as client:
            statuses += [sign_in(client, victim, "guess").status_code for _ in range(PER_PAIR)]
    assert statuses.count(401) == PER_ACCOUNT and statuses.count(429) == 3, statuses
    with from_address(api, client_address()) as stranger:
        refused = sign_in(stranger, victim, password)
        assert_throttled(refused)
        assert "for this account" in refused.json()["error"]["message"]
    with from_address(api, home) as client:
        assert sign_in(client, victim, password).status_code == 200
