"""The fields of Slack's `ok` answers that the bot reads, checked once where the answers arrive
(`SlackClient.api_call`): an answer of another shape is a failed call, never a crash or a guess further on.

A method that only reads (users.info, usergroups.list, …) fails as Slack's own refusals do: a SlackApiError whose
error is UNREADABLE. A method that acts (a post, a view) may have acted although its answer cannot be read, as when
the answer is lost: it fails with UnreadableAnswer, an OSError as a lost answer is, so that its callers look before
acting again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

UNREADABLE = "unreadable_answer"


class UnreadableAnswer(OSError):
    """Slack answered `ok` to a method that acts, with fields the bot cannot read: it may have acted."""


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _strs(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _obj(value: Any, **fields: Callable[[Any], bool]) -> bool:
    """An object whose named fields pass their checks; a field named with a trailing `_` may be missing."""
    return isinstance(value, dict) and all(
        (name.rstrip("_") not in value and name.endswith("_")) or check(value.get(name.rstrip("_")))
        for name, check in fields.items())


def _opt(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _users_info(a: dict[str, Any]) -> bool:
    return _obj(a.get("user"), id=_str, profile=lambda p: _obj(p, email_=_opt(_str)))


def _group(g: Any) -> bool:
    return _obj(g, id=_str, handle=_str, users=_strs)  # the bot always asks with include_users


def _messages(a: dict[str, Any]) -> bool:
    return (isinstance(a.get("messages"), list)
            and all(_obj(m, ts_=_str, metadata_=_opt(lambda d: _obj(d, event_payload_=_opt(
                lambda p: isinstance(p, dict))))) for m in a["messages"])
            and _opt(lambda r: _obj(r, next_cursor_=_opt(_str)))(a.get("response_metadata")))


def _channel(a: dict[str, Any]) -> bool:
    return _obj(a.get("channel"), id=_str)


def _auth(a: dict[str, Any]) -> bool:
    # Bolt's own reading at start (its AuthorizeResult): bot_id is missing from a user token's answer.
    return _str(a.get("user_id")) and _str(a.get("team_id")) and _obj(a, bot_id_=_str, enterprise_id_=_opt(_str))


# Methods that read: their answers' fields the bot uses.
READS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "users.info": _users_info,
    "usergroups.list": lambda a: isinstance(a.get("usergroups"), list) and all(map(_group, a["usergroups"])),
    "usergroups.users.list": lambda a: _strs(a.get("users")),
    "conversations.history": _messages,
    "conversations.replies": _messages,
    "conversations.info": _channel,
    "conversations.open": _channel,
    "auth.test": _auth,
}
# Methods that act: what they answer that the bot keeps (where a message is, which view opened).
ACTS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "chat.postMessage": lambda a: _str(a.get("ts")) and _str(a.get("channel")),
    "chat.update": lambda a: _str(a.get("ts")) and _str(a.get("channel")),
    "views.open": lambda a: _obj(a.get("view"), id=_str),
    "views.push": lambda a: _obj(a.get("view"), id=_str),
    "views.update": lambda a: _obj(a.get("view"), id=_str),
}


def readable(method: str, body: Any) -> bool:
    """Whether an answer of Slack's has the shape of its method's: an object; when `ok`, with the fields used."""
    if not isinstance(body, dict):
        return False
    if not isinstance(body.get("ok"), bool):
        return False  # slack_sdk would take any true value for `ok`
    if body.get("ok") is not True:
        return True  # a refusal: slack_sdk judges it
    check = READS.get(method) or ACTS.get(method)
    return check is None or bool(check(body))


def described(body: Any) -> str:
    """An answer's shape in words, for a log or an error: its fields' names, never their values."""
    if isinstance(body, dict):
        return "fields: " + ", ".join(sorted(map(str, body)))[:200]
    kinds = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(body), "null" if body is None else type(body).__name__)


def refused_with(answer: Any) -> str:
    """Slack's error code in a refusal (a SlackApiError's response), or words for one that names none."""
    return str(answer.get("error") or "no error named")
