"""The fields of Slack's `ok` answers that the bot reads, checked once where the answers arrive
(`SlackClient.api_call`): an answer of another shape is a failed call, never a crash or a guess further on.

A method that only reads (users.info, usergroups.list, …) fails as Slack's own refusals do: a SlackApiError whose
error is UNREADABLE. A method that acts (a post, a view) may have acted although its answer cannot be read, as when
the answer is lost: it fails with UnreadableAnswer, an OSError as a lost answer is, so that its callers look before
acting again.

Each shape is a pydantic model of the fields the bot uses, validated in strict mode: a field the bot reads as a
string must be one (a number is not taken for one), a list must be a list; the fields it does not read may be
anything, as Slack adds fields to its answers."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, StringConstraints, ValidationError
from slack_sdk.errors import SlackApiError

UNREADABLE = "unreadable_answer"
# Slack's error codes (`invalid_auth`, `channel_not_found`): a refusal's `error` of any other text (a proxy's page,
# one echoing the request and its token, Slack markup) is no code, and is never shown, logged or compared as one.
ERROR_CODE = re.compile(r"[a-z0-9_]{1,100}")


class UnreadableAnswer(OSError):
    """Slack answered `ok` to a method that acts, with fields the bot cannot read: it may have acted."""


class Shape(BaseModel):
    """An object with at least the fields named, of those types; its other fields are Slack's to add."""

    model_config = ConfigDict(strict=True, extra="allow")


class Profile(Shape):
    email: StrictStr | None = None


class User(Shape):
    id: StrictStr
    profile: Profile
    deleted: StrictBool = False  # deactivated; when there, true or false (a string or null tells neither)


class UsersInfo(Shape):
    user: User


class Group(Shape):
    id: StrictStr
    handle: StrictStr
    users: list[StrictStr]  # the bot always asks with include_users


class UsergroupsList(Shape):
    # Each group read on its own, as a Group (slack_directory): one of another shape is that group's failure alone.
    usergroups: list[dict[str, Any]]


class UsergroupsUsersList(Shape):
    users: list[StrictStr]


class Metadata(Shape):
    event_payload: dict[str, Any] | None = None


class Message(Shape):
    ts: StrictStr = ""  # may be missing; when there, a string (null is not)
    metadata: Metadata | None = None


class Cursor(Shape):
    next_cursor: StrictStr | None = None


class Messages(Shape):
    messages: list[Message]
    response_metadata: Cursor | None = None


class Channel(Shape):
    id: StrictStr


class ChannelAnswer(Shape):
    channel: Channel


class AuthTest(Shape):
    # Bolt's own reading at start (its AuthorizeResult): bot_id is missing from a user token's answer.
    user_id: StrictStr
    team_id: StrictStr
    bot_id: StrictStr = ""  # may be missing; when there, a string (null is not)
    enterprise_id: StrictStr | None = None


# Where Slack says a message is, kept in the database (32 characters each): a conversation's ID, and a ts of
# Slack's `seconds.microseconds`; anything else is no message of Slack's.
ConversationId = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Z0-9]{1,32}$")]
Ts = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{1,20}\.[0-9]{1,10}$")]


class Posted(Shape):
    ts: Ts
    channel: ConversationId


class View(Shape):
    id: StrictStr


class ViewAnswer(Shape):
    view: View


class ConnectionsOpen(Shape):
    # Socket Mode's next connection: a WebSocket URL, which slack_sdk opens as it is.
    url: Annotated[StrictStr, StringConstraints(pattern=r"^wss?://")]


# Methods that read: their answers' fields the bot uses.
READS: dict[str, type[Shape]] = {
    "users.info": UsersInfo,
    "usergroups.list": UsergroupsList,
    "usergroups.users.list": UsergroupsUsersList,
    "conversations.history": Messages,
    "conversations.replies": Messages,
    "conversations.info": ChannelAnswer,
    "conversations.open": ChannelAnswer,
    "auth.test": AuthTest,
    "apps.connections.open": ConnectionsOpen,
}
# Methods that act: what they answer that the bot keeps (where a message is, which view opened).
ACTS: dict[str, type[Shape]] = {
    "chat.postMessage": Posted,
    "chat.update": Posted,
    "views.open": ViewAnswer,
    "views.push": ViewAnswer,
    "views.update": ViewAnswer,
}

# Methods that act whose answer the bot reads nothing of (an ephemeral message, a Home published): an answer that
# is not JSON (cut short, replaced on its way) came after Slack acted, and fails with UnreadableAnswer as an ACTS
# one does; JSON of no shape Slack gives is a refusal, as for any method.
ACTS_UNREAD = frozenset({"chat.postEphemeral", "views.publish"})


def readable(method: str, body: Any) -> bool:
    """Whether an answer of Slack's has the shape of its method's: an object; when `ok`, with the fields used."""
    if not isinstance(body, dict):
        return False
    ok = body.get("ok")
    error = body.get("error")
    if ok is not True and not (error is None or (isinstance(error, str) and ERROR_CODE.fullmatch(error))):
        return False  # a refusal whose error is no code: never told as one (nor hashed, when not text)
    if ok is not True:
        # A false `ok` is a refusal slack_sdk raises; a true value other than `true` it would take as success. A
        # method that acts is refused only by `false`: answered without one (missing, null), it may have acted.
        return ok is False or (not ok and method not in ACTS)
    shape = READS.get(method) or ACTS.get(method)
    if shape is None:
        return True
    try:
        shape.model_validate(body)
    except ValidationError:
        return False
    return True


def described(body: Any) -> str:
    """An answer's shape in words, for a log or an error: its fields' names, never their values."""
    if isinstance(body, dict):
        return "fields: " + ", ".join(sorted(map(str, body)))[:200]
    kinds = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(body), "null" if body is None else type(body).__name__)


# Slack's refusals that say the call may have done part of its work before failing ("It's possible some aspect
# of the operation succeeded before the error was raised"): a post they answer may have been made.
MAY_HAVE_ACTED = frozenset({"internal_error", "fatal_error"})


def may_have_acted(exc: Exception) -> bool:
    """Whether a failed call that acts may have acted all the same: no answer read, or one of MAY_HAVE_ACTED."""
    return not isinstance(exc, SlackApiError) or exc.response.get("error") in MAY_HAVE_ACTED


def error_of(exc: Exception) -> str:
    """What a failed Slack call says for itself: Slack's error code, else the failure's kind (no answer)."""
    return str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__


def refused_with(answer: Any) -> str:
    """Slack's error code in a refusal (a SlackApiError's response), or words for one that names none."""
    return str(answer.get("error") or "no error named")


# An ephemeral or posted message whose blocks hold more than this much text in all is refused
# (`msg_blocks_too_long`); a response URL takes more.
POSTED_BLOCKS_TEXT = 12000


def posted_parts(blocks: Any) -> list[Any]:
    """A response URL's blocks as messages Slack takes as posted ones: in order, each within POSTED_BLOCKS_TEXT
    (a block is never split); anything but a list of blocks is one part, as it was."""
    if not isinstance(blocks, list) or not blocks:
        return [blocks]
    parts: list[list[Any]] = [[]]
    size = 0
    for block in blocks:
        length = _text_length(block)
        if parts[-1] and size + length > POSTED_BLOCKS_TEXT:
            parts.append([])
            size = 0
        parts[-1].append(block)
        size += length
    return parts


def _text_length(value: Any) -> int:
    """Every `text` string in a block, summed, as Slack counts toward its limit."""
    if isinstance(value, list):
        return sum(_text_length(v) for v in value)
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _text_length(v) for k, v in value.items())
    return 0
