"""Sending a bulk change's notices once (in its thread, to its requester, in the audit channel): each claimed in
the database, found by its metadata after an answer Slack lost, given back where a later try may send it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_shapes import error_of
from bot.domain.batches import Batch, Member
from handlers.dependencies import Dependencies
from handlers.late_post import NOTICE_EVENT, POSTED, posted_already

log = logging.getLogger(__name__)
# Slack's refusals that pass: a later sweep tries again. Any other (not_in_channel, is_archived,
# thread_not_found…) would refuse every sweep forever, so its claim is kept and it is not tried again.
PASSING_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                            "request_timeout"})


def post_metadata(batch: Batch, key: str = POSTED) -> dict[str, Any]:
    """The metadata of a bulk change's message (or of its notice `key`), by which a sweep finds a post whose
    answer was lost."""
    return {"event_type": NOTICE_EVENT, "event_payload": {"notice": f"{batch.id}:{key}"}}


def passing(exc: SlackApiError) -> bool:
    status = getattr(exc.response, "status_code", 200)
    return str(exc.response.get("error")) in PASSING_ERRORS or status == 429 or status >= 500


def sent_once(deps: Dependencies, client: WebClient, batch: Batch, key: str, held: list[str], channel: str,
              text: str, shown: list[dict[str, Any]] | None = None, thread_ts: str | None = None,
              user: str | None = None) -> bool:
    """Post one notice of a bulk change whose claims `held` the caller took; True once Slack holds it. Its first
    try leaves `{key}:tried`, and a try after one whose answer was lost looks for it by its metadata first, so
    that a post Slack took is not made twice and one it never made is made. The claims are given back when a
    later try may post it (no answer, a passing refusal); kept when Slack refuses this message for good."""
    if not deps.store.claim_notice(batch.id, f"{key}:tried"):
        found = posted_already(deps, client, batch.id, batch.created_at, key, held, channel,
                               f"{key} of bulk change {batch.id}", thread_ts=thread_ts, user=user)
        if found is not False:
            return bool(found)
    try:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=shown,
                                metadata=post_metadata(batch, key))
    except (OSError, SlackApiError) as exc:
        log.error("could not post %s of bulk change %s to %s: %s", key, batch.id, channel, error_of(exc))
        if isinstance(exc, OSError) or passing(exc):
            for claim in held:
                deps.store.forget_notice(batch.id, claim)
        return False
    return True


def to_thread(deps: Dependencies, client: WebClient, batch: Batch, notice: str,
              replies: Sequence[tuple[str, list[dict[str, Any]] | None]], members: list[Member] | None = None) -> None:
    """Each part once: a part Slack refused gives the whole back, and a later try posts only the parts not
    posted yet. `members`: those the replies tell the outcomes of."""
    if not (batch.message_channel and batch.message_ts) or not deps.store.claim_notice(batch.id, notice):
        return
    for number, (text, reply) in enumerate(replies, start=1):
        part = f"{notice}:{number}" if len(replies) > 1 else None
        if part is not None and not deps.store.claim_notice(batch.id, part):
            continue
        held = [notice] if part is None else [part, notice]
        if not sent_once(deps, client, batch, part or notice, held, batch.message_channel, text, reply,
                         thread_ts=batch.message_ts):
            return
        if members is not None:
            said_not_applied(deps, batch, notice, members)


def said_not_applied(deps: Dependencies, batch: Batch, told: str, members: list[Member]) -> None:
    """Marks each policy the notice `told`, now in Slack, tells as not applied, as it was read for it: what
    `correct` corrects, whenever it is found applied (one Slack refused, and told again later, is not marked)."""
    for member in members:
        if member.not_applied:
            deps.store.claim_notice(batch.id, f"said:{told}:{member.request.id}")
