"""Throttles for FAILED sign-ins, shared by every process through Redis (sliding windows).

Three sliding windows of `window` seconds count failed sign-ins, each in a sorted set scored by
the time of the attempt (Redis' clock):

| window                 | key                                | limit (settings)                      |
|------------------------|------------------------------------|---------------------------------------|
| account × client       | `login:fail:pair:<account>:<ip>`   | `login_failures_per_account_client`   |
| client                 | `login:fail:client:<ip>`           | `login_failures_per_client`           |
| account (all clients)  | `login:fail:account:<account>`     | `login_failures_per_account`          |

`<account>` is a hash of the normalized e-mail, whether or not an account has it, so the throttle
behaves the same for unknown e-mails (no account enumeration through 429s).

One Lua script checks all three and *reserves* a slot in each, atomically: concurrent guesses
cannot slip past the limit while their hashes are being verified. A failed sign-in keeps its
slots; a successful one gives them back (and clears the account × client window). An attempt
refused with 429 is not counted, so a window always empties `window` seconds after the last
counted failure: nobody is locked out for longer than the window after the guessing stops, and
the right password then works.

Why an attacker cannot lock a victim out (the design):
- Guessing from one address fills only that address's account × client window (5 by default);
  the account-wide window has a higher limit (20), so one address can never close the account.
- Many addresses together can close the account-wide window, but only for clients the account
  has not signed in from successfully in the last `login_known_client_days`: a client address
  where the victim signed in before is checked against its own account × client window only.
  So the victim keeps signing in from her usual addresses during a distributed attack; a new
  address waits at most `window` seconds after the attack's last counted failure.
- The per-client window (100 by default: a school behind one NAT address shares it) stops one
  address from spraying guesses over many accounts.
Redis unavailable: sign-in fails closed (the error propagates; the API answers 503).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import TooManyRequests

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from core.settings import Settings

# KEYS: pair, client, account, known clients. ARGV: window ms, member, limits (pair, client,
# account), client, how long a known client stays known (ms).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local member = ARGV[2]
local limits = {tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])}
local names = {'account_client', 'client', 'account'}
local seen = redis.call('ZSCORE', KEYS[4], ARGV[6])
local known = seen and (now - tonumber(seen) < tonumber(ARGV[7]))
local wait, which = 0, ''
for i = 1, 3 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if not (i == 3 and known) then
    local n = redis.call('ZCARD', KEYS[i])
    if n >= limits[i] then
      -- a slot frees when the (n - limit + 1)-th oldest failure leaves the window
      local oldest = redis.call('ZRANGE', KEYS[i], n - limits[i], n - limits[i], 'WITHSCORES')
      local w = tonumber(oldest[2]) + window - now
      if w > wait then wait, which = w, names[i] end
    end
  end
end
if wait > 0 then return {wait, which} end
for i = 1, 3 do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], window)
end
return {0, ''}
"""

# KEYS: pair, client, account, known clients. ARGV: member, client, known ms.
_SUCCEEDED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], now, ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -51)  -- the 50 most recent clients
redis.call('PEXPIRE', KEYS[4], ARGV[3])
return 1
"""

# KEYS: pair, client, account. ARGV: member. (The attempt was not judged: give the slots back.)
_RELEASE = """
for i = 1, 3 do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""

WHAT = {
    "account_client": "for this account from this address",
    "client": "from this address",
    "account": "for this account",
}


@dataclass(frozen=True, slots=True)
class Attempt:
    """A sign-in attempt holding a reserved slot in each window."""

    keys: tuple[str, str, str, str]
    member: str
    client: str


class LoginThrottle:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._window_ms = settings.login_window_seconds * 1000
        self._limits = (
            settings.login_failures_per_account_client,
            settings.login_failures_per_client,
            settings.login_failures_per_account,
        )
        self._known_ms = settings.login_known_client_days * 86_400_000
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._succeeded: Any = redis.register_script(_SUCCEEDED)
        self._release: Any = redis.register_script(_RELEASE)

    @staticmethod
    def keys(email: str, client: str) -> tuple[str, str, str, str]:
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return (
            f"login:fail:pair:{account}:{client}",
            f"login:fail:client:{client}",
            f"login:fail:account:{account}",
            f"login:known:{account}",
        )

    async def acquire(self, email: str, client: str) -> Attempt:
        """Reserve a slot in every window, or raise TooManyRequests with Retry-After."""
        attempt = Attempt(self.keys(email, client), secrets.token_hex(8), client)
        wait_ms, which = await self._acquire(
            keys=list(attempt.keys),
            args=[self._window_ms, attempt.member, *self._limits, client, self._known_ms],
        )
        if int(wait_ms) > 0:
            seconds = max(1, math.ceil(int(wait_ms) / 1000))
            name = which.decode() if isinstance(which, bytes) else str(which)
            raise TooManyRequests(
                f"too many failed sign-ins {WHAT.get(name, '')}; retry in {seconds} s",
                {"Retry-After": str(seconds)},
            )
        return attempt

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the slots are given back and the client becomes known."""
        await self._succeeded(
            keys=list(attempt.keys), args=[attempt.member, attempt.client, self._known_ms]
        )

    async def release(self, attempt: Attempt) -> None:
        """The attempt was never judged (a backing service failed): it does not count."""
        await self._release(keys=list(attempt.keys[:3]), args=[attempt.member])
