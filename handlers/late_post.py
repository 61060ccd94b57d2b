"""A change applied at once whose instance stopped before posting it in its channel: its work was done with the
request stored, so nothing redoes it, and the sweep that tells its end posts it there. Once across instances (a
claim in `request_notices`), and not again when Slack took the first post before the crash (its metadata looked
for in the channel's history, as the watch's notices are)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_http import LONGEST_CALL
from bot.adapters.slack_shapes import error_of
from bot.domain.change_requests import CLOSED_STATES, ChangeRequest, RequestState
from handlers import channel_history
from handlers.dependencies import Dependencies

log = logging.getLogger(__name__)

# The message metadata a request's message, a reply in its thread and an outcome in its requester's DM are posted
# with: the request and the notice, so that a second try can find whether Slack took the first.
NOTICE_EVENT = "backup_bot_request_notice"

# Claimed by whoever posts the message of a change applied at once (the step that applied it, else the sweep);
# taken over once POST_GRACE old, when its claimant may have stopped before posting or recording the post.
POSTING = "posting"
# The post settled: made, found in the channel, or refused for good. Owed while the message is not known.
POSTED = "posted"
# Longer than a post may take, every try and Retry-After included (bot/adapters/slack_http.py), with a minute for
# what the message is drawn from: a claimant still posting is never taken for one that stopped.
POST_GRACE = LONGEST_CALL + 60.0
# Slack's refusals of a post that no later sweep changes: the channel is closed to the bot, or the content refused.
POST_REFUSED = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action",
                          "msg_too_long", "invalid_blocks", "invalid_blocks_format", "no_text"})


@contextmanager
def carry_on(step: str, owner: str) -> Iterator[None]:
    """One row of a sweep's loop: a failure on it (the database refusing its write) is logged and leaves it for
    the next sweep, and the loop carries on with the others."""
    try:
        yield
    except Exception:
        log.exception("the sweep could not %s %s; it carries on with the others, and the next sweep tries again",
                      step, owner)


def notice_metadata(request: ChangeRequest, key: str | None) -> dict[str, Any] | None:
    return None if key is None else {"event_type": NOTICE_EVENT, "event_payload": {"notice": f"{request.id}:{key}"}}


def posted_already(deps: Dependencies, client: WebClient, owner: str, asked_at: float, key: str,
                   held: Sequence[str], channel: str, what: str, thread_ts: str | None = None,
                   user: str | None = None) -> bool | None:
    """For notice `key` of `owner` (a request's or a bulk change's ID) whose `{key}:tried` claim an earlier try
    took (its answer lost: a timeout, a crash): whether Slack holds it in `channel` already, looked for by its
    metadata from that first try on (what was posted since can be many pages, newest first). None when Slack
    cannot be asked now: the claims `held` are then given back, for a later try."""
    first_try = deps.store.notice_claimed_at(owner, f"{key}:tried") or asked_at
    found = channel_history.posted_before(client, channel, first_try, NOTICE_EVENT, "notice", f"{owner}:{key}",
                                          what, thread_ts=thread_ts, user=user, pages=channel_history.SINCE_TRY_PAGES)
    if found is None:
        for claim in held:
            deps.store.forget_notice(owner, claim)
    return found


def owes_post(request: ChangeRequest) -> bool:
    """A change applied with no approval asked shows its result in its channel; one that needed approvals was
    posted when it was asked, unless its run stopped before posting it: an open request owes its post too."""
    return ((request.state.is_open or (request.state is RequestState.APPLIED and not request.approvals_needed))
            and not (request.message_channel and request.message_ts))


def post_owed(deps: Dependencies, request: ChangeRequest) -> bool:
    """owes_post, or a request closed while the post its asking left to the sweep (Slack held it back, or took it
    unheard) was still owed: posted all the same, showing how it ended, so its channel is not left without it."""
    return owes_post(request) or (
        request.state in CLOSED_STATES and not (request.message_channel and request.message_ts)
        and deps.store.notice_claimed_at(request.id, POSTING) is not None
        and deps.store.notice_claimed_at(request.id, POSTED) is None)


def post_late(deps: Dependencies, client: WebClient, request: ChangeRequest, text: str,
              shown: list[dict[str, Any]]) -> ChangeRequest:
    """Post the request's message (an applied change's, or an open request's) in its channel, unless another
    caller holds the post or Slack holds it already; the request as it stands after."""
    if deps.store.claim_notice(request.id, POSTING):
        tried = False
    elif deps.store.take_over_notice(request.id, POSTING, deps.store.clock() - POST_GRACE):
        tried = True  # its claimant stopped, maybe after Slack took the post
    else:
        return request  # being posted by another step, or just tried: settled by it, or taken over later
    if tried:
        found = channel_history.found_before(client, request.channel, request.created_at, NOTICE_EVENT, "notice",
                                             f"{request.id}:{POSTED}", f"the message of request {request.id}",
                                             pages=channel_history.SINCE_TRY_PAGES)
        if found is None:
            return request  # Slack cannot be asked now: the claim is taken over again later
        if found:
            log.info("request %s was posted in %s before (its answer lost, or its instance stopped); not posted "
                     "again", request.id, request.channel)
            return shown_on(deps, client, request, found, text, shown)
    try:
        answer = client.chat_postMessage(channel=request.channel, text=text, blocks=shown,
                                         metadata=notice_metadata(request, POSTED))
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        log.error("could not post request %s in %s: %s", request.id, request.channel, error)
        if error in POST_REFUSED:
            deps.store.claim_notice(request.id, POSTED)  # given up: the requester and the audit channel are told
        return request  # otherwise taken over, and looked for first, once POST_GRACE has passed
    except OSError as exc:
        log.error("could not post request %s in %s: %s", request.id, request.channel, type(exc).__name__)
        return request
    return posted_at(deps, request, str(answer["channel"]), str(answer["ts"]))


def shown_on(deps: Dependencies, client: WebClient, request: ChangeRequest, ts: str, text: str,
             shown: list[dict[str, Any]]) -> ChangeRequest:
    """A post Slack took unheard (it may show an earlier state: queued, applying) made to show the change applied."""
    try:
        client.chat_update(channel=request.channel, ts=ts, text=text, blocks=shown)
    except (SlackApiError, OSError) as exc:
        log.error("could not update the message of request %s found in %s: %s", request.id, request.channel,
                  error_of(exc))
        # Posted once: not posted again, and where it is kept, so that its thread and later updates find it; its
        # end, not shown on it yet, is owed to the sweep (`shown:` unclaimed).
        deps.store.set_message(request.id, request.channel, ts)
        deps.store.claim_notice(request.id, POSTED)
        return deps.store.get_request(request.id) or request
    return posted_at(deps, request, request.channel, ts)


def posted_at(deps: Dependencies, request: ChangeRequest, channel: str, ts: str) -> ChangeRequest:
    deps.store.set_message(request.id, channel, ts)
    # The message shows how it ended: no thread reply says so again. An open request's shows only where it is.
    ended = (f"shown:{request.state.value}", request.state.value) if not request.state.is_open else ()
    for notice in (POSTED, *ended):
        deps.store.claim_notice(request.id, notice)
    return deps.store.get_request(request.id) or request
