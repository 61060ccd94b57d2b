"""How a bulk change reaches Slack and stays true there: one message in the channel, updated at every step; the
whole list of policies in its thread; what each policy came to, in the thread once it is known."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_shapes import error_of, may_have_acted
from bot.domain.batches import (
    UNSHOWN,
    Batch,
    BatchOutcome,
    BatchOutcomeKind,
    BatchState,
    Member,
    telling_batch,
)
from bot.domain.bulk_costs import SharedReads
from bot.domain.changes import SYSTEM, Outcome
from bot.domain.late_creations import landed_after_closing
from bot.domain.outcomes import telling
from handlers import blocks, bulk_blocks, channel_history, home
from handlers.bulk_sends import passing, post_metadata, said_not_applied, sent_once, to_thread
from handlers.dependencies import Dependencies
from handlers.late_post import NOTICE_EVENT, POST_GRACE, POST_REFUSED, POSTED, POSTING, carry_on
from handlers.nobody_left import tell_batch_nobody_left
from handlers.posting import answer_actor, has_response_url, report_step, say_privately, unconfirmed

log = logging.getLogger(__name__)
PRIVATE_MESSAGES = 5  # a response URL may be used five times
def batch_message(deps: Dependencies, batch: Batch, buttons: bool = True, threaded: bool | None = None,
                  reads: SharedReads | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Its message as it stands now; the rest of its list said to be in its thread unless `threaded` is False,
    or it was posted through the response URL (the "listed" notice), with its list right after it. Drawn on
    `reads`, the step's that came before it, else on one read of each database."""
    if threaded is None:
        threaded = deps.store.notice_claimed_at(batch.id, "listed") is None
    members = deps.store.batch_members(batch.id)
    reads = reads if reads is not None else SharedReads()
    standings = deps.bulk.standings(batch, reads) if batch.approvals_needed else None
    approved_by = deps.bulk.counted_approvers(batch, standings, reads)
    also = [a for a in deps.store.batch_approvers(batch.id) if a not in approved_by] \
        if batch.state is not BatchState.PENDING else []
    return bulk_blocks.headline(batch), bulk_blocks.batch_blocks(batch, members, approved_by, buttons, standings,
                                                                 threaded, also)


def report_batch(deps: Dependencies, client: WebClient, outcome: BatchOutcome, respond: Respond) -> None:
    """A bulk change asked: the request (or its result) in the channel, the rest to the caller alone."""
    with telling_batch(outcome):
        tell_batch(deps, client, outcome, respond)


def tell_batch(deps: Dependencies, client: WebClient, outcome: BatchOutcome, respond: Respond) -> None:
    batch = outcome.batch
    if outcome.kind is BatchOutcomeKind.PREVIEWED and batch is not None:
        text, preview = batch_message(deps, batch, buttons=False, threaded=False)
        # Slack shows the blocks, not the text: without this the preview reads as the request itself.
        marked = blocks.to_dicts([blocks.section(":mag: *Dry run*: nothing was asked or sent. The request would "
                                                 "read:")]) + preview
        say_privately(respond, f"Dry run: nothing was sent. {text}", marked)
        for reply_text, reply in bulk_blocks.preview_replies(batch, PRIVATE_MESSAGES - 2):
            say_privately(respond, reply_text, reply)
        say_privately(respond, "Run it again without `--dry-run` to ask for it.")
    elif outcome.kind in (BatchOutcomeKind.REQUESTED, BatchOutcomeKind.DONE) and batch is not None:
        publish(deps, client, batch, respond)
        if outcome.kind is BatchOutcomeKind.REQUESTED:
            say_privately(respond, f"Your bulk change needs {blocks.plural(batch.approvals_needed, 'approval')} "
                                   f"from {blocks.mentions(batch.approvers)}: the request is in the channel, and "
                                   "nothing is sent to PlanetScale until then.")
        else:
            finish(deps, client, batch)
    elif outcome.kind is BatchOutcomeKind.NOTHING and batch is not None:
        say_privately(respond, blocks.error_text(outcome.message))
        for reply_text, reply in bulk_blocks.preview_replies(batch, PRIVATE_MESSAGES - 1):
            say_privately(respond, reply_text, reply)
    else:
        say_privately(respond, blocks.error_text(outcome.message))


def report_batch_step(deps: Dependencies, client: WebClient, outcome: BatchOutcome, respond: Respond | None,
                      clicked_on: tuple[str, str] | None = None, actor: str | None = None) -> None:
    """A click on a bulk change: its message shows the truth, and the clicker hears why when it is not that. A
    click by `actor` on the App Home has no response URL: the answer goes on their Home, as a request's does."""
    with telling_batch(outcome):
        tell_batch_step(deps, client, outcome, respond, clicked_on, actor)


def tell_batch_step(deps: Dependencies, client: WebClient, outcome: BatchOutcome, respond: Respond | None,
                    clicked_on: tuple[str, str] | None, actor: str | None) -> None:
    batch = outcome.batch
    on_home = actor is not None and not has_response_url(respond)
    if batch is not None:
        if clicked_on is not None and batch.message_ts is None and clicked_on[0] == batch.channel:
            deps.store.set_batch_message(batch.id, *clicked_on)  # its own message, as a request's (posting.py)
        latest = deps.store.get_batch(batch.id) or batch
        refresh(deps, client, latest, respond, outcome.reads, clicked_on, but=actor if on_home else None)
        if outcome.kind is BatchOutcomeKind.DONE:
            finish(deps, client, latest)
        elif outcome.kind in (BatchOutcomeKind.REJECTED, BatchOutcomeKind.EXPIRED,
                              BatchOutcomeKind.NO_LONGER_ALLOWED):
            to_requester(deps, client, latest, outcome.message)
    if on_home and actor is not None:
        # Built now, after the step: a publish still due for them would only wipe the answer.
        deps.homes_due.discard(actor)
        home.answer_on_home(deps, client, actor, outcome.message, outcome.kind)
    elif respond is not None and has_response_url(respond) and outcome.kind is not BatchOutcomeKind.DONE:
        say_privately(respond, outcome.message if outcome.kind in (BatchOutcomeKind.COUNTED,
                                                                    BatchOutcomeKind.PART_REJECTED)
                      else blocks.error_text(outcome.message))


def publish(deps: Dependencies, client: WebClient, batch: Batch, respond: Respond | None) -> str | None:
    """The batch's message in its channel, and the whole list in its thread. Returns Slack's error when the
    channel took no message, or Slack did not confirm it, and the caller has not been told (a form, with no
    response URL): the App Homes of those it concerns still show it."""
    # Claimed before the message is drawn: a run stopped after it (the database dropping its connection, a
    # crash) leaves the post to the sweep, which looks for it by its metadata once POST_GRACE has passed and
    # posts it only if Slack never made it. Held already: another run of this work posts it, or the sweep does.
    if not deps.store.claim_notice(batch.id, POSTING):
        return None
    text, message = batch_message(deps, batch)
    try:
        answer = client.chat_postMessage(channel=batch.channel, text=text, blocks=message,
                                         metadata=post_metadata(batch))
    except (OSError, SlackApiError) as exc:
        if isinstance(exc, SlackApiError) and not may_have_acted(exc):
            return refused(deps, client, batch, respond, str(exc.response.get("error") or "refused"), passing(exc))
        # Slack may have taken it without the bot hearing so: a click on it tells the bot where it is, and the
        # sweep looks for it (its claim above), posting it only if Slack never made it.
        log.error("chat.postMessage to %s for bulk change %s: %s", batch.channel, batch.id, error_of(exc))
        home.refresh_homes(deps, client, batch)
        if respond is not None:
            say_privately(respond, blocks.error_text(
                f"Slack did not confirm the post of your bulk change to the channel ({unconfirmed(exc)}): the bot "
                "looks for it there, and posts it if Slack did not make it; " + waiting_or_applied(batch)))
        return error_of(exc)
    channel, ts = str(answer["channel"]), str(answer["ts"])
    deps.store.set_batch_message(batch.id, channel, ts)
    home.refresh_homes(deps, client, batch)
    batch.message_channel, batch.message_ts = channel, ts
    to_thread(deps, client, batch, "plan", bulk_blocks.plan_replies(batch))
    latest = deps.store.get_batch(batch.id)
    if latest is not None and latest.state is not batch.state:
        refresh(deps, client, latest)
    return None


def refused(deps: Dependencies, client: WebClient, batch: Batch, respond: Respond | None, error: str,
            later: bool = False) -> str | None:
    """A post Slack refused, nothing made: through the response URL instead (as `publish` returns). `later`: a
    passing refusal (a rate limit, Slack failing), which, with no response URL to show it through (a form), is
    left to the sweep to post once Slack takes posts again (its POSTING claim taken over after POST_GRACE)."""
    if respond is None and later:
        log.warning("chat.postMessage to %s failed (%s); the sweep posts bulk change %s later", batch.channel,
                    error, batch.id)
        home.refresh_homes(deps, client, batch)
        return error
    log.warning("chat.postMessage to %s failed (%s); answering through the response URL", batch.channel, error)
    deps.store.claim_notice(batch.id, POSTED)  # refused, and told here: not posted again by the sweep
    if respond is not None:
        if not in_channel(deps, batch, respond):
            log.error("bulk change %s could not be shown in %s", batch.id, batch.channel)
            say_privately(respond, blocks.error_text(
                f"Your bulk change could not be posted to the channel ({error}); " + waiting_or_applied(batch)))
        return None
    home.refresh_homes(deps, client, batch)
    return error


def waiting_or_applied(batch: Batch) -> str:
    return ("it is waiting for approval, and `/backup-policy pending` and the App Home list it."
            if batch.state is BatchState.PENDING else
            "it was applied policy by policy, and a direct message tells you how each one ended.")


def in_channel(deps: Dependencies, batch: Batch, respond: Respond) -> bool:
    """Where the bot may not post in the channel, the request goes through the response URL, and has no thread
    (Slack gives no ts for it): its whole list goes in the messages right after it, within the URL's uses (the
    requester's own note after a request takes one). False when the URL did not take the request itself."""
    deps.store.claim_notice(batch.id, "listed")
    text, message = batch_message(deps, batch, threaded=False)
    if respond(text=text, blocks=message, response_type="in_channel").status_code != 200:
        return False
    members = deps.store.batch_members(batch.id)
    room = PRIVATE_MESSAGES - 1 - (1 if batch.state is BatchState.PENDING else 0)
    replies = bulk_blocks.outcome_replies(members, room) if members else bulk_blocks.preview_replies(batch, room)
    for reply_text, reply in replies:
        respond(text=reply_text, blocks=reply, response_type="in_channel")
    return True


def refresh(deps: Dependencies, client: WebClient, batch: Batch, respond: Respond | None = None,
            reads: SharedReads | None = None, clicked_on: tuple[str, str] | None = None,
            but: str | None = None) -> bool:
    """Its message shows where it stands now (on `reads`, the step's), and so do the App Homes of those it
    concerns (`but` one, answered on their Home already). `clicked_on`: the message a click came from, which its
    response URL replaces. False when Slack would not update its message and no click replaced it: owed to the
    sweep (UNSHOWN)."""
    home.refresh_homes(deps, client, batch, but=but)
    drawn = standing(deps, batch)  # read before it is drawn: a move while it is drawn is found after
    text, message = batch_message(deps, batch, reads=reads)
    if batch.message_channel and batch.message_ts:
        try:
            client.chat_update(channel=batch.message_channel, ts=batch.message_ts, text=text, blocks=message)
            # Another step may have moved it on while this update was on its way (ended its policies, and shown
            # their ends first): shown again as it stands, or the message would say "applying" for good.
            latest = deps.store.get_batch(batch.id)
            if latest is not None and standing(deps, latest) != drawn:
                return refresh(deps, client, latest, None, None, None, but)
            return True
        except OSError as exc:
            # Slack may have taken it: the next step on the batch shows it again, and what each policy came to
            # still goes to the thread and the requester.
            log.error("could not update the message of bulk change %s: %s", batch.id, error_of(exc))
            return True
        except SlackApiError as exc:
            log.error("could not update the message of bulk change %s: %s", batch.id, exc.response.get("error"))
            # Only a click on the message itself replaces it: one from `pending` would replace that list instead.
            replaced = clicked_on == (batch.message_channel, batch.message_ts) and respond is not None \
                and has_response_url(respond) \
                and respond(text=text, blocks=message, replace_original=True).status_code == 200
            if not replaced:
                deps.store.claim_notice(batch.id, UNSHOWN)
            return replaced
    if respond is not None and has_response_url(respond):
        respond(text=text, blocks=message, replace_original=True)
    return True


def standing(deps: Dependencies, batch: Batch) -> tuple[object, ...]:
    """What its message shows of where it stands: its state, and each policy's."""
    return batch.state, *((m.request.state, m.outcome) for m in deps.store.batch_members(batch.id))


def finish(deps: Dependencies, client: WebClient, batch: Batch) -> None:
    """Once every policy has gone through the change path: each one's outcome in the thread, and the batch in
    the audit channel; each once, whichever instance gets here. Until then (a member queued or unconfirmed,
    finished by the sweep) its message shows the progress, and the sweep finishes it."""
    members = deps.store.batch_members(batch.id)
    if not all(m.done for m in members):
        return
    if not (batch.message_channel and batch.message_ts):
        # Its run stopped before posting it (the database dropped its connection while the policies were
        # applied): posted now, once, its claim deciding between this and any other run.
        publish(deps, client, batch, None)
    outcomes = bulk_blocks.outcome_replies(members)
    to_thread(deps, client, batch, "outcomes", outcomes, members)
    to_requester(deps, client, batch)
    to_audit(deps, client, batch, members, outcomes)
    # Last, on its policies read again: one found applied after a place told it not applied from an earlier
    # read is corrected here, or by the step that found it, whichever comes after the other.
    correct(deps, client, batch, deps.store.batch_members(batch.id))


def to_audit(deps: Dependencies, client: WebClient, batch: Batch, members: list[Member],
             outcomes: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """The bulk change's entry in the audit channel, once, telling `members` as read for it."""
    if not deps.store.claim_notice(batch.id, "audit"):
        return
    if not deps.audit_channel or deps.audit_channel == batch.channel:
        return  # nothing owed to an audit channel: claimed, so that the sweep does not come back for it
    # The audit channel has no thread of it: what its entry cannot list follows it there, each part once (a part
    # Slack refused gives the whole back; the entry, posted already, is found by its metadata, not made again).
    parts = [batch_message(deps, batch, buttons=False, threaded=False),
             *bulk_blocks.audit_replies(batch, members, outcomes)]
    for number, (text, shown) in enumerate(parts, start=1):
        key = "audit" if number == 1 else f"audit:{number}"
        if number > 1 and not deps.store.claim_notice(batch.id, key):
            continue
        if not sent_once(deps, client, batch, key, sorted({key, "audit"}), deps.audit_channel, text, shown):
            return
        said_not_applied(deps, batch, "audit", members)


def report_request_step(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond | None,
                        actor: str = SYSTEM, clicked_on: tuple[str, str] | None = None) -> None:
    """A step on a request, by a click or by the sweep alike: an ordinary request's told as report_step tells
    it; a bulk change's member's kept as its outcome, its batch's message shown again, and finished once every
    member is."""
    with telling(outcome):
        tell_request_step(deps, client, outcome, respond, actor, clicked_on)


def tell_request_step(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond | None,
                      actor: str, clicked_on: tuple[str, str] | None) -> None:
    batch = deps.bulk.member_moved(outcome)
    if batch is None:
        report_step(deps, client, outcome, respond, actor=actor, clicked_on=clicked_on)
        return
    # A member has no message of its own: its batch's message, thread and requester's DM tell it.
    latest = deps.store.get_batch(batch.id) or batch
    refresh(deps, client, latest)
    if all(m.done for m in deps.store.batch_members(latest.id)):
        finish(deps, client, latest)
    answer_actor(deps, client, outcome, respond, actor)


def correct(deps: Dependencies, client: WebClient, batch: Batch, members: list[Member]) -> None:
    """A policy told as not applied (in the thread, to the requester, in the audit channel) that PlanetScale
    carried out after all: told there again, each once."""
    late = [m for m in members if landed_after_closing(m.request)]
    if not late:
        return
    places = [("outcomes", "late", batch.message_channel, batch.message_ts, None),
              (f"dm:{batch.state.value}", "late:dm", batch.requester, None, batch.requester)]
    if deps.audit_channel and deps.audit_channel != batch.channel:
        places.append(("audit", "late:audit", deps.audit_channel, None, None))
    for told, where, channel, thread_ts, user in places:
        for member in late:
            key = f"{where}:{member.request.id}"
            said = deps.store.notice_claimed_at(batch.id, f"said:{told}:{member.request.id}") is not None
            if channel and said and deps.store.claim_notice(batch.id, key):
                text = bulk_blocks.landed_late_words(batch, member)
                sent_once(deps, client, batch, key, [key], channel, text, blocks.to_dicts([blocks.section(text)]),
                          thread_ts=thread_ts, user=user)


def sweep_reporter(deps: Dependencies, client: WebClient) -> Callable[[Outcome], None]:
    """What the sweep does with each step it took: the same as a click's, by the bot."""
    return lambda outcome: report_request_step(deps, client, outcome, None)


def sweep_batches(deps: Dependencies, client: WebClient) -> None:
    """The sweep's steps on bulk changes: those fully approved whose judging could not tell are judged again;
    those past their time expire, and their message says so; the list of policies Slack refused in a thread
    is posted there again, so that no request stands without it, and so is how each policy ended."""
    for batch in deps.store.unposted_batches(deps.store.clock() - POST_GRACE):
        with carry_on("post", f"bulk change {batch.id}"):
            post_late(deps, client, batch)
    for batch in deps.store.unthreaded_batches():
        with carry_on("list the policies of", f"bulk change {batch.id}"):
            to_thread(deps, client, batch, "plan", bulk_blocks.plan_replies(batch))
    for batch in deps.store.unshown_batches():
        with carry_on("show", f"bulk change {batch.id}"):
            deps.store.forget_notice(batch.id, UNSHOWN)  # claimed again if Slack still refuses
            refresh(deps, client, batch)
    for batch in deps.store.unfinished_batches():
        with carry_on("finish", f"bulk change {batch.id}"):
            finish(deps, client, batch)
    for outcome in deps.bulk.judge_again():
        if outcome.batch is not None:
            with carry_on("tell the judging of", f"bulk change {outcome.batch.id}"):
                latest = deps.store.get_batch(outcome.batch.id) or outcome.batch
                if outcome.kind is BatchOutcomeKind.NOBODY_LEFT:  # claimed once by the sweep that found it
                    tell_batch_nobody_left(deps, client, latest, outcome)
                    continue
                refresh(deps, client, latest)
                if outcome.kind is BatchOutcomeKind.NO_LONGER_ALLOWED:
                    to_requester(deps, client, latest, outcome.message)
                else:
                    finish(deps, client, latest)
    for batch in deps.bulk.expire_due():
        if batch.state is BatchState.EXPIRED:
            with carry_on("tell the expiry of", f"bulk change {batch.id}"):
                refresh(deps, client, batch)
                to_requester(deps, client, batch)
    for batch, notices in deps.bulk.due_reminders():
        with carry_on("remind the approvers of", f"bulk change {batch.id}"):
            remind(deps, client, batch, notices)


def remind(deps: Dependencies, client: WebClient, batch: Batch, notices: list[str]) -> None:
    """A reminder in the bulk change's thread, claimed once by the sweep that found it due; given back when
    Slack refuses it, so that a later sweep says it."""
    standings = deps.bulk.standings(batch)
    if standings is not None and len(standings) > 1:
        # Its policies count approvals under their own rules: say which still wait, and for whom.
        waiting = [bulk_blocks.standing_words(s) for s in standings if s.missing]
        missing = f"approvals for some of its policies: {'; '.join(waiting)};" if waiting else ""
    else:
        short = max(0, batch.approvals_needed - len(deps.bulk.counted_approvers(batch, standings)))
        missing = f"{blocks.plural(short, 'more approval')}," if short else ""
    expires = blocks.when(datetime.fromtimestamp(batch.expires_at, UTC).isoformat())
    text = (f":bell: Reminder for {blocks.mentions(batch.approvers)}: this bulk change still needs {missing} and "
            f"expires {expires}." if missing else
            f":bell: Reminder for {blocks.mentions(batch.approvers)}: this bulk change has the approvals it needs but "
            f"could not be checked yet; the bot judges it again shortly. It expires {expires}.")
    if not (batch.message_channel and batch.message_ts):
        log.error("could not remind the approvers of bulk change %s: its message is not known yet", batch.id)
        for notice in notices:
            deps.store.forget_notice(batch.id, notice)
        return
    # An answer lost (a timeout) gives the claims back, and the next try looks in the thread before posting.
    sent_once(deps, client, batch, notices[-1], list(notices), batch.message_channel, text,
              thread_ts=batch.message_ts)


def post_late(deps: Dependencies, client: WebClient, batch: Batch) -> None:
    """A bulk change whose post's answer was lost: found in its channel by its metadata, else posted now, by the
    one sweep that takes the claim over; its thread follows from the sweep's next steps."""
    if not deps.store.take_over_notice(batch.id, POSTING, deps.store.clock() - POST_GRACE):
        return  # another sweep has it
    found = channel_history.found_before(client, batch.channel, batch.created_at, NOTICE_EVENT, "notice",
                                         f"{batch.id}:{POSTED}", f"the message of bulk change {batch.id}",
                                         pages=channel_history.SINCE_TRY_PAGES)
    if found is None:
        return  # Slack cannot be asked now: the claim is taken over again later
    if found:
        # Where it is, kept before it is shown as it stands: an update Slack refuses now (a rate limit) is owed
        # to the sweep (UNSHOWN), and its thread and later updates still find it.
        deps.store.set_batch_message(batch.id, batch.channel, found)
        deps.store.claim_notice(batch.id, POSTED)
        batch.message_channel, batch.message_ts = batch.channel, found
        refresh(deps, client, batch)
        return
    text, message = batch_message(deps, batch)
    try:
        answer = client.chat_postMessage(channel=batch.channel, text=text, blocks=message,
                                         metadata=post_metadata(batch))
        channel, ts = str(answer["channel"]), str(answer["ts"])
    except (SlackApiError, OSError) as exc:
        log.error("could not post bulk change %s in %s: %s", batch.id, batch.channel, error_of(exc))
        if isinstance(exc, SlackApiError) and exc.response.get("error") in POST_REFUSED:
            deps.store.claim_notice(batch.id, POSTED)  # refused for good: not tried again
        return  # otherwise taken over, and looked for first, once POST_GRACE has passed
    deps.store.set_batch_message(batch.id, channel, ts)
    deps.store.claim_notice(batch.id, POSTED)


def to_requester(deps: Dependencies, client: WebClient, batch: Batch, why: str | None = None) -> None:
    """How the bulk change ended, once, in a direct message to whoever asked it; `why`, the step's words, for
    one the access rules no longer allow."""
    notice = f"dm:{batch.state.value}"
    if batch.state is BatchState.PENDING or not deps.store.claim_notice(batch.id, notice):
        return
    members = deps.store.batch_members(batch.id)
    where = f" (its message is in <#{batch.channel}>)" if batch.channel.startswith("C") else ""
    text = f"Your bulk change `{bulk_blocks.code_text(batch.selection)}`: {bulk_blocks.summary(batch, members)}"
    if batch.state is BatchState.REFUSED:
        text = (f"Your bulk change `{bulk_blocks.code_text(batch.selection)}`: "
                f"{why or 'Not applied: the access rules no longer allow it. Nothing was sent.'}")
    elif batch.state is not BatchState.APPROVED:
        text = f"Your bulk change `{bulk_blocks.code_text(batch.selection)}` was {batch.state.value}; nothing was sent."
    if any(m.retryable for m in members):
        text += " Its message lists why each one was not applied, and offers to retry them."
    if sent_once(deps, client, batch, notice, [notice], batch.requester, text + where, user=batch.requester):
        said_not_applied(deps, batch, notice, members)
