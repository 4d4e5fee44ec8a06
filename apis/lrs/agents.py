"""Agents and their Inverse Functional Identifiers (IFIs) as the store keys them.

`ifi_key` turns an agent into one canonical string (`mbox:mailto:a@b`, `mbox_sha1sum:…`,
`openid:…`, `account:<homePage>|<name>`): the key of statements' actors, of documents, and of
the filters. An account of this platform (`ACCOUNT_HOME`) or an mbox that is a user's e-mail links
the agent to that user; otherwise only the key is kept (pseudonymised before the lake).
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import msgspec

from apis.lrs import validation
from core.errors import InvalidInput

# Accounts of the platform (`account.homePage` must be an IRL; `.invalid` never resolves).
ACCOUNT_HOME: Final = "http://dreamseed.invalid/accounts"


def ifi_key(agent: dict[str, Any]) -> str | None:
    """The canonical IFI of an Agent or identified Group (None: an anonymous Group)."""
    if "mbox" in agent:
        return f"mbox:{agent['mbox'].lower()}"
    if "mbox_sha1sum" in agent:
        return f"mbox_sha1sum:{agent['mbox_sha1sum'].lower()}"
    if "openid" in agent:
        return f"openid:{agent['openid']}"
    if "account" in agent:
        return f"account:{agent['account']['homePage']}|{agent['account']['name']}"
    return None


def actor_key(agent: dict[str, Any]) -> str:
    """The actor's key: its IFI, or for an anonymous Group one made from its members."""
    key = ifi_key(agent)
    if key is not None:
        return key
    members = sorted(ifi_key(m) or "" for m in agent.get("member", []))
    return "group:" + hashlib.sha256("\n".join(members).encode()).hexdigest()


def keys_of(agent: dict[str, Any]) -> list[str]:
    """The agent's key and, for a Group, its members' keys (what `related_agents` matches)."""
    keys = [actor_key(agent)]
    keys += [k for m in agent.get("member", []) if (k := ifi_key(m)) is not None]
    return keys


def platform_user(agent: dict[str, Any]) -> str | None:
    """The user id named by a platform account IFI (the e-mail form is resolved by the store)."""
    account = agent.get("account")
    if isinstance(account, dict) and account.get("homePage") == ACCOUNT_HOME:
        name = account.get("name")
        if isinstance(name, str) and validation.UUID_RE.match(name):
            return name.lower()
    return None


def mbox_email(agent: dict[str, Any]) -> str | None:
    mbox = agent.get("mbox")
    return mbox.removeprefix("mailto:").lower() if isinstance(mbox, str) else None


def parse_agent_param(text: str, name: str = "agent") -> dict[str, Any]:
    """An agent given as a JSON query parameter (`agent=`), validated; 400 naming the parameter."""
    try:
        value = msgspec.json.decode(text.encode())
    except msgspec.DecodeError:
        raise InvalidInput(f"{name}: not valid JSON") from None
    validation.agent(value, name)
    if ifi_key(value) is None:
        raise InvalidInput(f"{name}: needs an inverse functional identifier")
    assert isinstance(value, dict)
    return value


def person(agent: dict[str, Any]) -> dict[str, Any]:
    """The Person object of GET /xapi/agents: every known identifier as a list."""
    out: dict[str, Any] = {"objectType": "Person"}
    if "name" in agent:
        out["name"] = [agent["name"]]
    for key in ("mbox", "mbox_sha1sum", "openid", "account"):
        if key in agent:
            out[key] = [agent[key]]
    return out
