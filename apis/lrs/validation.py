"""xAPI 1.0.3 statement validation: every rule of the specification's Data section that a
statement can break, reported as `InvalidInput("<property path>: <what is wrong>")` (a 400 that
names the property). Nothing is stored unless the whole request validates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from core.errors import InvalidInput

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
IRI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
MBOX_RE = re.compile(r"^mailto:[^@\s]+@[^@\s]+$")
SHA1_RE = re.compile(r"^[0-9a-fA-F]{40}$")
SHA2_RE = re.compile(r"^[0-9a-fA-F]{56}$|^[0-9a-fA-F]{64}$|^[0-9a-fA-F]{96}$|^[0-9a-fA-F]{128}$")
LANG_RE = re.compile(r"^(?:[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*|[xX](?:-[A-Za-z0-9]{1,8})+)$")
MEDIA_TYPE_RE = re.compile(r"^[\w.+\-]+/[\w.+\-]+(?:\s*;.*)?$")
DURATION_RE = re.compile(  # ISO 8601 4.4.3.2: weeks stand alone (PnW), never beside other parts
    r"^P(?:\d+(?:\.\d+)?W|(?!$)(?:\d+(?:\.\d+)?Y)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?D)?"
    r"(?:T(?=\d)(?:\d+(?:\.\d+)?H)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?S)?)?)$"
)
TIMESTAMP_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
NEGATIVE_ZERO_OFFSET = re.compile(r"-00(?::?00)?$")
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
INTERACTION_TYPES = frozenset(
    {"true-false", "choice", "fill-in", "long-fill-in", "matching", "performance",
     "sequencing", "likert", "numeric", "other"}
)  # fmt: skip
COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
STATEMENT_KEYS = frozenset(
    {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority",
     "version", "attachments"}
)  # fmt: skip
SUB_KEYS = frozenset(
    {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
)
AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
IFI_KEYS = ("mbox", "mbox_sha1sum", "openid", "account")


def fail(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}")


def obj(value: Any, path: str, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(path or "statement", "must be an object")
    if allowed is not None:
        for key in value:
            if key not in allowed:
                raise fail(f"{path}.{key}" if path else key, "is not a property of this object")
    for key, inner in value.items():
        if inner is None:
            raise fail(f"{path}.{key}" if path else key, "must not be null")
    return value


def string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise fail(path, "must be a string")
    return value


def iri(value: Any, path: str) -> str:
    if not isinstance(value, str) or not IRI_RE.match(value):
        raise fail(path, "must be an absolute IRI (scheme:…)")
    return value


def uuid_text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise fail(path, "must be a UUID")
    return value.lower()


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, "must be true or false")
    return value


def number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(path, "must be a number")
    return float(value)


def timestamp(value: Any, path: str) -> str:
    if not isinstance(value, str) or not TIMESTAMP_RE.match(value):
        raise fail(path, "must be an ISO 8601 date-time")
    if NEGATIVE_ZERO_OFFSET.search(value):
        raise fail(path, "must not use the offset -00:00 (ISO 8601 forbids it)")
    return value


def language_map(value: Any, path: str) -> None:
    obj(value, path)
    for key, text in value.items():
        if not LANG_RE.match(key):
            raise fail(f"{path}.{key}", "is not an RFC 5646 language tag")
        string(text, f"{path}.{key}")


def extensions(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise fail(path, "must be an object")
    for key in value:
        iri(key, f"{path} key {key!r}")


def agent(value: Any, path: str, *, group_allowed: bool = True) -> None:
    """Agent or Group; an Agent needs exactly one IFI, a Group at most one (members if none)."""
    kind = value.get("objectType", "Agent") if isinstance(value, dict) else None
    if kind == "Group":
        if not group_allowed:
            raise fail(f"{path}.objectType", "a Group is not allowed here")
        group(value, path)
        return
    if kind != "Agent":
        raise fail(f"{path}.objectType", "must be 'Agent' or 'Group'")
    obj(value, path, AGENT_KEYS)
    if "name" in value:
        string(value["name"], f"{path}.name")
    if sum(1 for k in IFI_KEYS if k in value) != 1:
        raise fail(path, "an Agent needs exactly one of mbox, mbox_sha1sum, openid, account")
    ifi(value, path)


def group(value: dict[str, Any], path: str) -> None:
    obj(value, path, AGENT_KEYS | {"member"})
    if "name" in value:
        string(value["name"], f"{path}.name")
    count = sum(1 for k in IFI_KEYS if k in value)
    if count > 1:
        raise fail(path, "a Group has at most one of mbox, mbox_sha1sum, openid, account")
    if count:
        ifi(value, path)
    if "member" in value or not count:
        members = value.get("member")
        if not isinstance(members, list) or (not count and not members):
            raise fail(f"{path}.member", "an anonymous Group needs a non-empty member list")
        for i, member in enumerate(members):
            agent(member, f"{path}.member[{i}]", group_allowed=False)


def ifi(value: dict[str, Any], path: str) -> None:
    if "mbox" in value and (not isinstance(value["mbox"], str) or not MBOX_RE.match(value["mbox"])):
        raise fail(f"{path}.mbox", "must be 'mailto:' followed by an e-mail address")
    if "mbox_sha1sum" in value and (
        not isinstance(value["mbox_sha1sum"], str) or not SHA1_RE.match(value["mbox_sha1sum"])
    ):
        raise fail(f"{path}.mbox_sha1sum", "must be a SHA-1 hex digest (40 characters)")
    if "openid" in value:
        iri(value["openid"], f"{path}.openid")
    if "account" in value:
        account = obj(value["account"], f"{path}.account", frozenset({"homePage", "name"}))
        if "homePage" not in account or "name" not in account:
            raise fail(f"{path}.account", "needs homePage and name")
        iri(account["homePage"], f"{path}.account.homePage")
        string(account["name"], f"{path}.account.name")


def authority(value: Any, path: str) -> None:
    """An Agent, or an anonymous Group of exactly two Agents (an OAuth consumer and user)."""
    agent(value, path)
    if value.get("objectType") == "Group":
        if any(k in value for k in IFI_KEYS):
            raise fail(path, "an authority Group must be anonymous")
        if len(value.get("member", [])) != 2:
            raise fail(f"{path}.member", "an authority Group has exactly two members")


def verb(value: Any, path: str) -> None:
    obj(value, path, frozenset({"id", "display"}))
    if "id" not in value:
        raise fail(f"{path}.id", "is required")
    iri(value["id"], f"{path}.id")
    if "display" in value:
        language_map(value["display"], f"{path}.display")


def interaction_components(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise fail(path, "must be a list")
    seen: set[str] = set()
    for i, component in enumerate(value):
        where = f"{path}[{i}]"
        obj(component, where, frozenset({"id", "description"}))
        component_id = string(component.get("id"), f"{where}.id")
        if component_id in seen:
            raise fail(f"{where}.id", "is not unique in the list")
        seen.add(component_id)
        if "description" in component:
            language_map(component["description"], f"{where}.description")


def definition(value: Any, path: str) -> None:
    keys = frozenset(
        {"name", "description", "type", "moreInfo", "extensions", "interactionType",
         "correctResponsesPattern", *COMPONENT_LISTS}
    )  # fmt: skip
    obj(value, path, keys)
    for key in ("name", "description"):
        if key in value:
            language_map(value[key], f"{path}.{key}")
    for key in ("type", "moreInfo"):
        if key in value:
            iri(value[key], f"{path}.{key}")
    if "extensions" in value:
        extensions(value["extensions"], f"{path}.extensions")
    kind = value.get("interactionType")
    if "interactionType" in value and (not isinstance(kind, str) or kind not in INTERACTION_TYPES):
        raise fail(f"{path}.interactionType", "is not an xAPI interaction type")
    if "correctResponsesPattern" in value and kind is None:
        raise fail(f"{path}.correctResponsesPattern", "needs an interactionType")
    if "correctResponsesPattern" in value:
        pattern = value["correctResponsesPattern"]
        if not isinstance(pattern, list) or not all(isinstance(p, str) for p in pattern):
            raise fail(f"{path}.correctResponsesPattern", "must be a list of strings")
    for key in COMPONENT_LISTS:
        if key in value:
            if "interactionType" not in value:
                raise fail(f"{path}.{key}", "needs an interactionType")
            interaction_components(value[key], f"{path}.{key}")


def activity(value: Any, path: str) -> None:
    obj(value, path, frozenset({"objectType", "id", "definition"}))
    if value.get("objectType", "Activity") != "Activity":
        raise fail(f"{path}.objectType", "must be 'Activity'")
    if "id" not in value:
        raise fail(f"{path}.id", "is required")
    iri(value["id"], f"{path}.id")
    if "definition" in value:
        definition(value["definition"], f"{path}.definition")


def statement_ref(value: Any, path: str) -> None:
    obj(value, path, frozenset({"objectType", "id"}))
    if value.get("objectType") != "StatementRef":
        raise fail(f"{path}.objectType", "must be 'StatementRef'")
    uuid_text(value.get("id"), f"{path}.id")


def statement_object(value: Any, path: str, *, sub: bool) -> str:
    """The object's objectType once valid."""
    if not isinstance(value, dict):
        raise fail(path, "must be an object")
    kind = value.get("objectType", "Activity")
    if kind == "Activity":
        activity(value, path)
    elif kind in ("Agent", "Group"):
        agent(value, path)
    elif kind == "StatementRef":
        statement_ref(value, path)
    elif kind == "SubStatement":
        if sub:
            raise fail(f"{path}.objectType", "a SubStatement cannot hold a SubStatement")
        obj(value, path, SUB_KEYS)
        body(value, path, sub=True)
    else:
        raise fail(f"{path}.objectType", f"{kind!r} is not an xAPI object type")
    return str(kind)


def score(value: Any, path: str) -> None:
    obj(value, path, frozenset({"scaled", "raw", "min", "max"}))
    numbers = {k: number(v, f"{path}.{k}") for k, v in value.items()}
    if "scaled" in numbers and not -1 <= numbers["scaled"] <= 1:
        raise fail(f"{path}.scaled", "must be between -1 and 1")
    low, high, raw = numbers.get("min"), numbers.get("max"), numbers.get("raw")
    if low is not None and high is not None and low >= high:
        raise fail(f"{path}.min", "must be less than max")
    if raw is not None and ((low is not None and raw < low) or (high is not None and raw > high)):
        raise fail(f"{path}.raw", "must be between min and max")


def result(value: Any, path: str) -> None:
    keys = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
    obj(value, path, keys)
    if "score" in value:
        score(value["score"], f"{path}.score")
    for key in ("success", "completion"):
        if key in value:
            boolean(value[key], f"{path}.{key}")
    if "response" in value:
        string(value["response"], f"{path}.response")
    if "duration" in value and (
        not isinstance(value["duration"], str) or not DURATION_RE.match(value["duration"])
    ):
        raise fail(f"{path}.duration", "must be an ISO 8601 duration (e.g. PT1M30S)")
    if "extensions" in value:
        extensions(value["extensions"], f"{path}.extensions")


def context_activities(value: Any, path: str) -> None:
    obj(value, path, frozenset({"parent", "grouping", "category", "other"}))
    for key, inner in value.items():
        items = inner if isinstance(inner, list) else [inner]
        for i, item in enumerate(items):
            activity(item, f"{path}.{key}[{i}]" if isinstance(inner, list) else f"{path}.{key}")


def context(value: Any, path: str, object_type: str) -> None:
    keys = frozenset(
        {"registration", "instructor", "team", "contextActivities", "revision", "platform",
         "language", "statement", "extensions"}
    )  # fmt: skip
    obj(value, path, keys)
    if "registration" in value:
        uuid_text(value["registration"], f"{path}.registration")
    if "instructor" in value:
        agent(value["instructor"], f"{path}.instructor")
    if "team" in value:
        team = value["team"]
        if not isinstance(team, dict) or team.get("objectType") != "Group":
            raise fail(f"{path}.team", "must be a Group")
        agent(team, f"{path}.team")
    if "contextActivities" in value:
        context_activities(value["contextActivities"], f"{path}.contextActivities")
    for key in ("revision", "platform"):
        if key in value:
            string(value[key], f"{path}.{key}")
            if object_type != "Activity":
                raise fail(f"{path}.{key}", "is allowed only when the object is an Activity")
    if "language" in value and (
        not isinstance(value["language"], str) or not LANG_RE.match(value["language"])
    ):
        raise fail(f"{path}.language", "is not an RFC 5646 language tag")
    if "statement" in value:
        statement_ref(value["statement"], f"{path}.statement")
    if "extensions" in value:
        extensions(value["extensions"], f"{path}.extensions")


def attachments(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise fail(path, "must be a list")
    keys = frozenset(
        {"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}
    )
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        obj(item, where, keys)
        for required in ("usageType", "display", "contentType", "length", "sha2"):
            if required not in item:
                raise fail(f"{where}.{required}", "is required")
        iri(item["usageType"], f"{where}.usageType")
        language_map(item["display"], f"{where}.display")
        if "description" in item:
            language_map(item["description"], f"{where}.description")
        if not isinstance(item["contentType"], str) or not MEDIA_TYPE_RE.match(item["contentType"]):
            raise fail(f"{where}.contentType", "must be an Internet media type")
        length = item["length"]
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise fail(f"{where}.length", "must be a non-negative integer")
        if not isinstance(item["sha2"], str) or not SHA2_RE.match(item["sha2"]):
            raise fail(f"{where}.sha2", "must be a SHA-2 hex digest")
        if "fileUrl" in item:
            iri(item["fileUrl"], f"{where}.fileUrl")


def body(value: dict[str, Any], path: str, *, sub: bool) -> None:
    """What statements and sub-statements share: actor, verb, object, result, context, …"""
    where: Callable[[str], str] = (lambda k: f"{path}.{k}") if path else (lambda k: k)
    for required in ("actor", "verb", "object"):
        if required not in value:
            raise fail(where(required), "is required")
    agent(value["actor"], where("actor"))
    verb(value["verb"], where("verb"))
    object_type = statement_object(value["object"], where("object"), sub=sub)
    if value["verb"]["id"] == VOIDED and object_type != "StatementRef" and not sub:
        raise fail(where("object"), "a voiding statement's object must be a StatementRef")
    if "result" in value:
        result(value["result"], where("result"))
    if "context" in value:
        context(value["context"], where("context"), object_type)
    if "timestamp" in value:
        timestamp(value["timestamp"], where("timestamp"))
    if "attachments" in value:
        attachments(value["attachments"], where("attachments"))


def statement(value: Any, path: str = "") -> dict[str, Any]:
    """Validate one statement (raises InvalidInput naming the property); the statement."""
    checked = obj(value, path, STATEMENT_KEYS)
    if "id" in value:
        uuid_text(value["id"], f"{path}.id" if path else "id")
    body(value, path, sub=False)
    prefix = f"{path}." if path else ""
    if "stored" in value:
        timestamp(value["stored"], f"{prefix}stored")
    if "authority" in value:
        authority(value["authority"], f"{prefix}authority")
    if "version" in value and (
        not isinstance(value["version"], str) or not re.match(r"^1\.0(\.\d+)?$", value["version"])
    ):
        raise fail(f"{prefix}version", "must be a 1.0.x xAPI version")
    return checked
