"""Whether a channel, a thread or a direct message already holds a message the bot tried to post before (its
answer lost past the client's timeout, or its marking as posted failed): looked up by the message metadata it
was posted with."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_shapes import UnreadableAnswer, error_of, may_have_acted

log = logging.getLogger(__name__)

# Slack's refusals of a look at the channel's history that a later look would get too: post without looking.
CANNOT_LOOK = frozenset({"missing_scope", "not_in_channel", "channel_not_found", "not_allowed_token_type",
                         "thread_not_found", "user_not_found"})
# How far back the look goes, in pages of conversations.history: a message tried again is tried within minutes.
HISTORY_PAGES = 5
# A look from the first try of the message on reads all that was posted since (within this bound).
SINCE_TRY_PAGES = 50


def posted_before(client: WebClient, channel: str, since: float, event_type: str, key: str, value: str,
                  what: str, thread_ts: str | None = None, user: str | None = None,
                  pages: int = HISTORY_PAGES) -> bool | None:
    """Whether `channel` (the thread `thread_ts` in it, when given; the bot's direct message with `user`, when
    given) holds a message whose metadata is `event_type` with `key` = `value`, posted since `since`; None when
    Slack cannot be asked now. `what` names the message in the log; `pages` bounds the pages read."""
    found = found_before(client, channel, since, event_type, key, value, what, thread_ts, user, pages)
    return found if found is None else bool(found)


def found_before(client: WebClient, channel: str, since: float, event_type: str, key: str, value: str,
                 what: str, thread_ts: str | None = None, user: str | None = None,
                 pages: int = HISTORY_PAGES) -> str | None:
    """As `posted_before`: the time stamp of the message found ("" for none), None when Slack cannot be asked."""
    oldest = f"{max(0.0, since - 60):.6f}"  # room for the clocks of the bot and Slack to differ
    cursor = None
    try:
        if user is not None:  # a post to a user ID lands in the bot's DM with them, whose ID this gives
            channel = str((client.conversations_open(users=user).get("channel") or {}).get("id") or "")
        for _ in range(pages):
            if thread_ts is not None:
                answer = client.conversations_replies(channel=channel, ts=thread_ts, oldest=oldest, limit=200,
                                                      include_all_metadata=True, cursor=cursor)
            else:
                answer = client.conversations_history(channel=channel, oldest=oldest, limit=200,
                                                      include_all_metadata=True, cursor=cursor)
            for message in answer.get("messages") or []:
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == event_type and \
                        (metadata.get("event_payload") or {}).get(key) == value:
                    return str(message.get("ts") or "") or "?"
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not (answer.get("has_more") and cursor):
                return ""
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        if error in CANNOT_LOOK:
            log.warning("could not look whether %s is in %s already (%s): posted again, which may repeat it",
                        what, channel, error)
            return ""
        log.error("could not look whether %s is in %s already: %s", what, channel, error)
        return None
    except OSError as exc:
        log.error("could not look whether %s is in %s already: %s", what, channel, type(exc).__name__)
        return None
    log.warning("%s was not found in the last %d pages of %s: posted again", what, pages, channel)
    return ""


# The metadata a one-off direct message is posted with, so that a try after a failure that may have made it can
# find whether it did.
DIRECT_EVENT = "backup_bot_direct_message"


def post_directly(client: WebClient, user: str, text: str, blocks: Any = None, what: str = "a direct message") \
        -> None:
    """A one-off message in the bot's direct message with `user` (a user ID), made once. A failure after which
    Slack may have made it all the same (a 5xx, an `internal_error`) is settled as other posts are:
    the direct message is looked in first, and the message posted again only when Slack holds none. Raises the
    failure when Slack did not take it, or when whether it did cannot be told (the log says which)."""
    key, since = uuid.uuid4().hex, time.time()
    metadata = {"event_type": DIRECT_EVENT, "event_payload": {"message": key}}
    try:
        client.chat_postMessage(channel=user, text=text, blocks=blocks, metadata=metadata)
        return
    except (SlackApiError, OSError) as exc:
        if not may_have_made(exc):
            raise
        log.warning("Slack did not confirm %s to %s (%s): looking whether it was made", what, user, error_of(exc))
        found = posted_before(client, "", since, DIRECT_EVENT, "message", key, what, user=user)
        if found is None:
            log.error("%s to %s may not have reached them: Slack failed and its direct message cannot be read",
                      what, user)
            raise
        if found:
            return
    client.chat_postMessage(channel=user, text=text, blocks=blocks, metadata=metadata)


def may_have_made(exc: Exception) -> bool:
    """Whether a failed chat.postMessage is worth another try once looked for: Slack answered, failing (a 5xx,
    raised as an UnreadableAnswer, or an error saying part of the work may be done), so what it made is in the DM
    by now. Not a refusal of the message itself, nor no answer (Slack may still be making it: a look could miss
    it)."""
    if isinstance(exc, UnreadableAnswer):
        return True
    return isinstance(exc, SlackApiError) and may_have_acted(exc)
