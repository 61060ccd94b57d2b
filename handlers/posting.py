"""How a change and its request reach Slack and stay true there: posted once, then updated at every step."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_shapes import UnreadableAnswer, error_of, may_have_acted
from bot.domain.change_requests import CLOSED_STATES, FINAL_STATES, ChangeKind, ChangeRequest, Expiry, RequestState
from bot.domain.changes import SYSTEM, Outcome, OutcomeKind
from bot.domain.outcomes import NOBODY_LEFT_SAID, describe_state
from handlers import blocks, channel_history, home
from handlers.dependencies import Dependencies
from handlers.late_post import POST_GRACE, POST_REFUSED, POSTED, notice_metadata, post_late, post_owed, posted_already
from handlers.nobody_left import nobody_left_words

log = logging.getLogger(__name__)


def say_privately(respond: Respond, text: str, result_blocks: list[dict[str, Any]] | None = None) -> None:
    """An answer to the caller alone, which may carry the domain's words: whoever they name is mentioned."""
    answer = respond(text=blocks.slack_text(text), blocks=result_blocks, response_type="ephemeral",
                     replace_original=False)
    if answer.status_code != 200:
        log.error("could not answer through the response URL: HTTP %s", answer.status_code)


def request_message(deps: Dependencies, request: ChangeRequest,
                    approvals: Sequence[str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """`approvals`: the request's, when the step that moved it read them."""
    given = deps.store.approvers_of(request.id) if approvals is None else list(approvals)
    approved_by = deps.changes.counted_approvers(request, given)
    also = [a for a in given if a not in approved_by]
    return blocks.request_headline(request), blocks.request_blocks(
        request, approved_by, home.progress_by_group(deps, request, approved_by), also)


def report_step(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond | None,
                actor: str = SYSTEM, clicked_on: tuple[str, str] | None = None) -> None:
    """A step on an existing request (a click, the sweep): its message shows the truth, its thread says who did
    what, the requester hears how it ended, and the actor hears why. `clicked_on` is the (channel, ts) of the
    message a click came from."""
    latest = None
    if outcome.request is not None:
        # Not a list elsewhere holding its buttons (`pending` told in a direct message): the channel is owed it.
        if clicked_on is not None and outcome.request.message_ts is None and clicked_on[0] == outcome.request.channel:
            deps.store.adopt_message(outcome.request.id, *clicked_on)
        latest = as_it_stands(deps, outcome.request)
        if latest.state in CLOSED_STATES and not latest.told and post_owed(deps, latest):
            latest = post_late(deps, client, latest, *request_message(deps, latest))
    shown = None
    if outcome.request_moved and outcome.request is not None:
        if actor == SYSTEM and latest is not None and shows_end(deps, latest):
            # The sweep telling an end its message shows already (posted so, or shown by whoever told it): not
            # shown again. A click's step moved the request itself: shown as it now stands.
            if latest.state is RequestState.APPLIED:
                to_audit_channel(deps, client, latest)
        else:
            shown = refresh(deps, client, outcome.request, respond, latest, outcome.approved_by, claim_shown=False,
                            clicked_on=clicked_on)
    if outcome.request is not None:
        tell_steps(deps, client, outcome, actor, latest)
    answer_actor(deps, client, outcome, respond, actor)
    if latest is not None and latest.state in CLOSED_STATES and not latest.told:
        deps.store.mark_told(latest.id, owed(deps, latest), claim=[shown] if shown else [])


def shows_end(deps: Dependencies, request: ChangeRequest) -> bool:
    """Whether the closed request's message is known to show how it ended (its `shown:` notice claimed)."""
    return (request.state in CLOSED_STATES and bool(request.message_channel and request.message_ts)
            and deps.store.notice_claimed_at(request.id, f"shown:{request.state.value}") is not None)


def answer_actor(deps: Dependencies, client: WebClient, outcome: Outcome, respond: Respond | None,
                 actor: str) -> None:
    """The App Homes the step concerns shown again, and whoever clicked told why, when it is not what they
    asked: on their Home when the click came from it, else privately."""
    clicked_on_home = not has_response_url(respond) and actor != SYSTEM
    if outcome.request is not None and outcome.kind not in (OutcomeKind.REMINDED, OutcomeKind.NOBODY_LEFT):
        home.refresh_homes(deps, client, outcome.request, but=actor if clicked_on_home else None)
    if clicked_on_home:
        # A click on the App Home has no response URL: the answer is shown at the top of the Home itself. Built
        # now, it shows every step so far: a publish still due for this person would only wipe the answer.
        deps.homes_due.discard(actor)
        home.answer_on_home(deps, client, actor, outcome.message, outcome.kind)
    quiet = (OutcomeKind.APPLIED, OutcomeKind.REJECTED, OutcomeKind.CANCELLED)
    if respond is not None and has_response_url(respond) and outcome.kind not in quiet:
        say_privately(respond, outcome.message if outcome.kind is OutcomeKind.COUNTED
                      else blocks.error_text(outcome.message))


def as_it_stands(deps: Dependencies, request: ChangeRequest) -> ChangeRequest:
    """The request after the step, with anything another instance or the sweep did since: read once, unless
    the step left it closed for good where its message is known (nothing shown of it can change any more)."""
    if request.state in FINAL_STATES and request.message_channel and request.message_ts:
        return request
    return deps.store.get_request(request.id) or request


def owed(deps: Dependencies, request: ChangeRequest) -> list[str]:
    """The notices a closed request's end owes (each claimed once sent): its message shown and its thread told,
    where it is known; its requester told, unless they cancelled it; the audit channel, for an applied change."""
    notices = []
    if request.message_channel and request.message_ts:
        notices += [f"shown:{request.state.value}", request.state.value]
    elif post_owed(deps, request):
        notices.append(POSTED)
    if not (request.state is RequestState.CANCELLED and request.decided_by == request.requester):
        notices.append(f"dm:{request.state.value}")
    if owes_audit(deps, request):
        notices.append(AUDITED)
    return notices


# Slack's refusals of a message that no later try changes: the message or its channel's history is gone or
# closed to it, or its content is refused. Anything else (Slack's own failures, rate limits, the network, a
# channel not found that a click may correct) is tried again.
REFUSED_FOR_GOOD = frozenset({"message_not_found", "cant_update_message", "edit_window_closed", "is_archived",
                              "msg_too_long", "invalid_blocks", "invalid_blocks_format", "no_text",
                              "cannot_dm_bot", "user_not_found", "user_disabled"})


def passing(exc: Exception) -> bool:
    """Whether a failed call to Slack is worth trying again, rather than a refusal of this message that would
    be refused again (a deleted message, an archived channel)."""
    if isinstance(exc, SlackApiError):
        return exc.response.get("error") not in REFUSED_FOR_GOOD
    return True


# A channel closed to the bot (removed from it, or the channel deleted) may open again: a request's notices
# there (its end, a reminder) are tried for a day after it last moved (closed, for its end), then given up
# rather than asked every pass for ever, or until a request of a long life expires.
CLOSED_TO_BOT = frozenset({"not_in_channel", "channel_not_found"})
CLOSED_TO_BOT_SECONDS = 86400.0


def tried_again(deps: Dependencies, request: ChangeRequest, exc: Exception) -> bool:
    """`passing`, for a notice of `request`: a channel closed to the bot a day after the request moved is not."""
    closed_to_bot = isinstance(exc, SlackApiError) and exc.response.get("error") in CLOSED_TO_BOT
    return passing(exc) and not (closed_to_bot and deps.store.clock() - request.updated_at > CLOSED_TO_BOT_SECONDS)


def given_back(deps: Dependencies, request: ChangeRequest, notices: Sequence[str], exc: Exception) -> None:
    """After a failed sending: claims given back to be tried again when Slack may take it later; kept (the
    notice given up, said in the log) when Slack refused this message itself."""
    if tried_again(deps, request, exc):
        for notice in notices:
            deps.store.forget_notice(request.id, notice)
    elif notices:
        log.error("request %s: %s given up, Slack refuses it", request.id, ", ".join(notices))


def has_response_url(respond: Respond | None) -> bool:
    """A click on the App Home brings no response URL (Bolt still hands a Respond, which could not send)."""
    return respond is not None and bool(getattr(respond, "response_url", None))


def sweep_reporter(deps: Dependencies, client: WebClient) -> Callable[[Outcome], None]:
    """What the sweep does with each step it took: the same as a click's, by the bot."""
    return lambda outcome: report_step(deps, client, outcome, None)


def tell_steps(deps: Dependencies, client: WebClient, outcome: Outcome, actor: str,
               latest: ChangeRequest | None = None) -> None:
    """Each step once in the request's thread (whichever instance, click or retry reports it), and its end once
    to the requester directly. `latest`: the request as just read, after the step."""
    if outcome.request is None:
        return
    latest = latest or deps.store.get_request(outcome.request.id) or outcome.request
    if outcome.kind is OutcomeKind.REMINDED:
        # Claimed once by the sweep that found it due (ChangePath.due_reminders).
        to_thread(deps, client, latest, None, reminder_text(deps, latest), claimed=outcome.notices)
        return
    if outcome.kind is OutcomeKind.NOBODY_LEFT:  # decided once by the sweep that found it (ChangePath.judge_again)
        tell_nobody_left(deps, client, latest, outcome)
        return
    # An applied request's one reply names the approval that completed it (step_line): no reply of its own.
    approvals = [] if latest.state is RequestState.APPLIED else \
        deps.store.approvers_of(latest.id) if outcome.approved_by is None else list(outcome.approved_by)
    if actor in approvals:
        counting = deps.changes.counted_approvers(latest, approvals)
        count = f"{counting.index(actor) + 1} of {latest.approvals_needed}" \
            if latest.approvals_needed and actor in counting else ""
        groups = home.progress_by_group(deps, latest, approvals) if latest.state is RequestState.PENDING else None
        owed = owed_by_group(groups)
        to_thread(deps, client, latest, f"approved:{actor}", f":white_check_mark: <@{actor}> approved"
                  + (f" ({count})" if count else "") + (f"; still missing {owed}" if owed else "") + ".")
    step = step_line(outcome, latest, actor)
    if step is not None:
        to_thread(deps, client, latest, *step)
    if outcome.asks_approval and latest.state is RequestState.PENDING:
        tell_asks_approval(deps, client, latest)
    if latest.state in CLOSED_STATES and not (latest.state is RequestState.CANCELLED
                                              and latest.decided_by == latest.requester):
        to_requester(deps, client, latest)


def reminder_text(deps: Dependencies, request: ChangeRequest) -> str:
    approved_by = deps.changes.counted_approvers(request)
    groups = home.progress_by_group(deps, request, approved_by)
    counted = sum(len(c) for _, _, c in groups) if groups else len(approved_by)
    missing = max(0, request.approvals_needed - counted)
    expires = blocks.when(datetime.fromtimestamp(request.expires_at, UTC).isoformat())
    if not missing:  # every approval is in, and judging them could not tell yet: the sweep judges it again
        return (f":bell: Reminder for {blocks.mentions(request.approvers)}: this request has the approvals it needs "
                f"but could not be checked yet; the bot judges it again shortly. It expires {expires}.")
    return (f":bell: Reminder for {blocks.mentions(request.approvers)}: this request still needs {missing} more "
            f"approval{'s' if missing != 1 else ''}{f' ({owed})' if (owed := owed_by_group(groups)) else ''}, and "
            f"expires {expires}.")


def tell_nobody_left(deps: Dependencies, client: WebClient, request: ChangeRequest, outcome: Outcome) -> None:
    """One note in the thread and one to the requester: nobody left could give the approvals still needed."""
    who, fix = nobody_left_words(deps, outcome.nobody_left)
    needs = blocks.plural(outcome.approvals, "more approval")
    thread_note, dm_note = NOBODY_LEFT_SAID
    to_thread(deps, client, request, thread_note, f":warning: Nobody left can approve this request: it "
              f"needs {needs}, and there is no one in {who} who may give them. It stays open until it expires, "
              f"in case someone is added: {fix}.")
    where = f" in <#{request.channel}>" if request.channel.startswith("C") else ""
    dm_once(deps, client, request, dm_note,
            f"Your request to change *{blocks.literal(request.policy_name)}* of "
            f"*{request.organization}/{request.database}*{where} needs {needs}, and nobody left in {who} may "
            f"give them. It stays open until it expires: {fix}.")


def tell_asks_approval(deps: Dependencies, client: WebClient, request: ChangeRequest) -> None:
    """Its requester, told the sweep applies their change, hears once that it now waits for approval."""
    where = f" in <#{request.channel}>" if request.channel.startswith("C") else ""
    detail = blocks.fit(blocks.with_mentions(request.detail or ""), 1500)
    dm_once(deps, client, request, "dm:asks_approval",
            f"Your change to *{blocks.literal(request.policy_name)}* of *{request.organization}/{request.database}*"
            f"{where} is not applied yet, nothing was sent: {detail}. It waits for approval"
            + (f" by {blocks.mentions(request.approvers)}." if request.approvers else "."))


def owed_by_group(groups: blocks.GroupProgress | None) -> str:
    owed = [f"{n - len(c)} from {blocks.mention(g)}" for g, n, c in groups or [] if len(c) < n]
    return ", ".join(owed)


def step_line(outcome: Outcome, request: ChangeRequest, actor: str) -> tuple[str, str] | None:
    """The thread reply for where the request now stands, and the notice that makes it once; None for nothing."""
    who = blocks.decider(request)
    detail = blocks.fit(blocks.with_mentions(request.detail or ""), 1500)
    if request.state is RequestState.APPLIED:
        needed = request.approvals_needed
        by = f", approved by {who}" + (f" (the last of {needed} approvals)" if needed > 1 else "") if needed else ""
        return "applied", f":white_check_mark: Applied to PlanetScale{by}."
    if request.state is RequestState.FAILED:
        what = "Conflict, not applied" if outcome.kind is OutcomeKind.CONFLICT else "Not applied"
        return "failed", f":warning: {what}: {detail or blocks.slack_text(outcome.message)}"
    if request.state is RequestState.REJECTED:
        return "rejected", f":x: Rejected by {who}; nothing was sent to PlanetScale."
    if request.state is RequestState.CANCELLED:
        why = f" ({detail})" if detail and blocks.closed_by_bot(request) else ""
        return "cancelled", f":no_entry: Cancelled by {who}{why}; nothing was sent to PlanetScale."
    if request.state is RequestState.EXPIRED:
        return "expired", f":hourglass: {blocks.EXPIRED_WORDS[Expiry.of(request)]}; nothing was sent to PlanetScale."
    if outcome.kind is OutcomeKind.WAITING and request.state is RequestState.PENDING:
        # Once per reason: the sweep judges a request again every pass, and the same wait is not news.
        said = hashlib.sha256((request.detail or "").encode()).hexdigest()[:16]
        return f"waiting:{said}", f":hourglass_flowing_sand: Judged again, not applied yet: {detail}"
    return None


def to_thread(deps: Dependencies, client: WebClient, request: ChangeRequest, notice: str | None, text: str,
              claimed: Sequence[str] = ()) -> None:
    """A reply under the request's message (when it has one the bot posted), sent once per notice; `claimed`
    are notices claimed already (by the sweep), given back like `notice` if Slack refuses the reply."""
    if not (request.message_channel and request.message_ts):
        # Not said yet: a later sweep says it once a click has shown where the message is.
        for claim in claimed:
            deps.store.forget_notice(request.id, claim)
        return
    untried = None
    if notice is not None:
        got = deps.store.claim_notices(request.id, [notice, f"{notice}:tried"])
        if not got:
            return
        untried = len(got) == 2
    key = notice if notice is not None else next(iter(claimed), None)
    held = ([notice] if notice is not None else []) + list(claimed)
    if key is not None and there_already(deps, client, request, key, held, thread_ts=request.message_ts,
                                         untried=untried):
        return
    try:
        client.chat_postMessage(channel=request.message_channel, thread_ts=request.message_ts, text=text,
                                metadata=notice_metadata(request, key))
    except (SlackApiError, OSError) as exc:
        log.error("could not reply in the thread of request %s: %s", request.id, error_of(exc))
        given_back(deps, request, held, exc)


def there_already(deps: Dependencies, client: WebClient, request: ChangeRequest, key: str, held: Sequence[str],
                  thread_ts: str | None = None, user: str | None = None, untried: bool | None = None) -> bool:
    """Whether a notice tried before (its answer lost: a timeout, a crash) is in the request's thread or the
    requester's DM already, so it is not posted twice; when Slack cannot be asked now, the claims `held` are
    given back for a later try and it is not posted now either. `untried`: whether the caller's claim of
    `{key}:tried` (made with the notice's own) was the first, None when it is yet to be made."""
    if untried is None:
        untried = deps.store.claim_notice(request.id, f"{key}:tried")
    if untried:
        return False  # never tried
    return posted_already(deps, client, request.id, request.created_at, key, held, request.message_channel or "",
                          f"{key} of request {request.id}", thread_ts=thread_ts, user=user) is not False


OUTCOME_WORDS = {RequestState.APPLIED: ":white_check_mark: was applied", RequestState.FAILED: ":warning: was not "
                 "applied", RequestState.REJECTED: ":x: was rejected by {decided_by}",
                 RequestState.CANCELLED: ":no_entry: was cancelled by {decided_by}",
                 RequestState.EXPIRED: ":hourglass: {expired}"}


def to_requester(deps: Dependencies, client: WebClient, request: ChangeRequest) -> None:
    """The outcome to the requester in a direct message: chat.postMessage to a user ID opens the bot's DM with
    them (chat:write, no im:write needed)."""
    how = OUTCOME_WORDS[request.state].format(decided_by=blocks.decider(request),
                                              expired=blocks.EXPIRED_WORDS[Expiry.of(request)].lower())
    where = f" (the request is in <#{request.channel}>)" if request.channel.startswith("C") else ""
    why = f"\n{blocks.fit(blocks.with_mentions(request.detail), 1500)}" if request.detail and (
        request.state in (RequestState.FAILED, RequestState.EXPIRED)
        or (request.state is RequestState.CANCELLED and blocks.closed_by_bot(request))) else ""
    if request.state is RequestState.EXPIRED:
        why = "\nNothing was sent to PlanetScale; ask again if it is still needed."
    what = {ChangeKind.UPDATE: "Your change to the backup policy", ChangeKind.CREATE: "Your new backup policy",
            ChangeKind.DELETE: "Your deletion of the backup policy"}[request.kind]
    dm_once(deps, client, request, f"dm:{request.state.value}",
            f"{what} *{blocks.literal(request.policy_name)}* of *{request.organization}/{request.database}* "
            f"{how}{where}.{why}")


def dm_once(deps: Dependencies, client: WebClient, request: ChangeRequest, notice: str, text: str) -> None:
    """A direct message to the requester, sent once per notice."""
    got = deps.store.claim_notices(request.id, [notice, f"{notice}:tried"])
    if not got or there_already(deps, client, request, notice, [notice], user=request.requester,
                                untried=len(got) == 2):
        return
    try:
        client.chat_postMessage(channel=request.requester, text=text, metadata=notice_metadata(request, notice))
    except (SlackApiError, OSError) as exc:
        log.error("could not tell <@%s> the outcome of request %s: %s", request.requester, request.id,
                  error_of(exc))
        given_back(deps, request, [notice], exc)


def publish(deps: Dependencies, client: WebClient, request: ChangeRequest, respond: Respond | None,
            approvals: Sequence[str] | None = None) -> bool:
    """Post the request's message in its channel, remembering where it is so that it can be updated; `approvals`:
    the request's, when the caller knows them. True when Slack refused it for a moment (a rate limit, Slack
    failing) and no response URL showed it instead (a form): its post is owed to the sweep (POSTED unclaimed)."""
    later = False
    text, request_blocks = request_message(deps, request, approvals)
    try:
        answer = client.chat_postMessage(channel=request.channel, text=text, blocks=request_blocks,
                                         metadata=notice_metadata(request, POSTED))
        deps.store.set_message(request.id, str(answer["channel"]), str(answer["ts"]))
        latest = deps.store.get_request(request.id)
        if latest is not None and latest.state is not request.state:
            # The sweep (here or on another instance) moved it on while it was being posted, before the
            # message could be found to update: shown as it now stands.
            refresh(deps, client, latest)
            return False
    except (OSError, SlackApiError) as exc:
        if may_have_acted(exc):
            # Slack may have taken it without the bot hearing so: another post could show it twice.
            log.error("chat.postMessage to %s for request %s: %s", request.channel, request.id, error_of(exc))
            if respond is not None:
                listed = " Meanwhile `/backup-policy pending` lists it." if request.state.is_open else ""
                say_privately(respond, blocks.error_text(
                    f"Your request `{request.id[:8]}` is {describe_state(request)}; Slack did not confirm its post "
                    f"to the channel ({unconfirmed(exc)}): the bot looks for it there, and posts it if Slack did not "
                    f"make it.{listed}"))
            later = True  # the sweep looks for it in the channel, and posts it if Slack did not make it
        else:
            refused_post(request, respond, text, request_blocks, error_of(exc))
            later = respond is None and error_of(exc) not in POST_REFUSED
    if request.state is RequestState.APPLIED:
        to_audit_channel(deps, client, request)
    return later


def unconfirmed(exc: Exception) -> str:
    """Why Slack did not confirm a call, in words: its error code, else what became of its answer."""
    if isinstance(exc, SlackApiError):
        return error_of(exc)
    return "its answer could not be read" if isinstance(exc, UnreadableAnswer) else "no answer came in time"


def refused_post(request: ChangeRequest, respond: Respond | None, text: str, request_blocks: list[dict[str, Any]],
                 error: str) -> None:
    """A post Slack refused, nothing made (private channels and DMs the bot is not in): through the command's
    response URL instead, whose message's buttons bring a response URL to update it with; else its requester
    told."""
    log.warning("chat.postMessage to %s failed (%s); answering through the response URL", request.channel, error)
    if respond is None or respond(text=text, blocks=request_blocks, response_type="in_channel").status_code != 200:
        log.error("request %s could not be shown in %s", request.id, request.channel)
        if respond is not None:
            say_privately(respond, blocks.error_text(
                f"Your request `{request.id[:8]}` is {describe_state(request)}; it could not be posted to the "
                f"channel ({error}), and `/backup-policy pending` lists it while it is open."))


def refresh(deps: Dependencies, client: WebClient, request: ChangeRequest, respond: Respond | None = None,
            latest: ChangeRequest | None = None, approvals: Sequence[str] | None = None,
            claim_shown: bool = True, clicked_on: tuple[str, str] | None = None) -> str | None:
    """Show the request's current state on its message. `latest` and `approvals`: the request as just read, and
    its approvals, when the caller has them. Returns the notice that its message shows it closed, once it does:
    claimed here, unless `claim_shown` is False (the caller claims it as it marks the request told).
    `clicked_on`: the message a click came from, which its response URL replaces."""
    latest = latest or deps.store.get_request(request.id) or request
    text, request_blocks = request_message(deps, latest, approvals)
    shown_closed = None
    if latest.message_ts and latest.message_channel:
        try:
            client.chat_update(channel=latest.message_channel, ts=latest.message_ts, text=text, blocks=request_blocks)
            shown = True
        except (SlackApiError, OSError) as exc:
            log.error("could not update the message of request %s: %s", request.id, error_of(exc))
            shown = not tried_again(deps, latest, exc)
            # Only a click on the message itself replaces it: one from `pending` would replace that list instead.
            if respond is not None and has_response_url(respond) and \
                    clicked_on == (latest.message_channel, latest.message_ts):
                shown = respond(text=text, blocks=request_blocks, replace_original=True).status_code == 200 or shown
        if shown and latest.state not in CLOSED_STATES:
            # Another step may have moved it on while this update was on its way (ended it, and shown its end
            # first): shown again as it stands, or the message would say "Applying" for good.
            now = deps.store.get_request(request.id)
            if now is not None and now.state is not latest.state:
                return refresh(deps, client, request, respond, now, None, claim_shown, clicked_on)
        if shown and latest.state in CLOSED_STATES:
            shown_closed = f"shown:{latest.state.value}"
            if claim_shown:
                deps.store.claim_notice(latest.id, shown_closed)
    elif has_response_url(respond):
        respond(text=text, blocks=request_blocks, replace_original=True)  # type: ignore[misc]
    if latest.state is RequestState.APPLIED and request.state is RequestState.APPLIED:
        to_audit_channel(deps, client, latest)
    return shown_closed


def to_audit_channel(deps: Dependencies, client: WebClient, request: ChangeRequest) -> None:
    """An applied change, once in the audit channel (claimed in the database: later clicks on its buttons, a
    retry or another instance do not post it again)."""
    if not owes_audit(deps, request):
        return
    if not deps.store.claim_notice(request.id, "audit") and (
            deps.store.notice_claimed_at(request.id, AUDITED) is not None
            or not deps.store.take_over_notice(request.id, "audit", deps.store.clock() - POST_GRACE)):
        return  # posted, or being posted; a claimant that stopped before recording the post is taken over later
    if not deps.store.claim_notice(request.id, "audit:tried"):
        # Tried before, and its answer lost (a timeout, a crash): Slack may hold it already.
        found = audit_posted_before(deps, client, request)
        if found is None:
            deps.store.forget_notice(request.id, "audit")
        elif found:
            deps.store.claim_notice(request.id, AUDITED)
        if found is not False:
            return
    text, request_blocks = request_message(deps, request)
    record = [b for b in request_blocks if b.get("type") != "actions"]  # a record: its buttons belong elsewhere
    try:
        client.chat_postMessage(channel=str(deps.audit_channel), text=text, blocks=record,
                                metadata={"event_type": AUDIT_EVENT, "event_payload": {"request_id": request.id}})
    except (SlackApiError, OSError) as exc:
        log.error("could not post to the audit channel %s: %s", deps.audit_channel, error_of(exc))
        given_back(deps, request, ["audit"], exc)
        if not tried_again(deps, request, exc):
            deps.store.claim_notice(request.id, AUDITED)  # given up: settled
        return
    deps.store.claim_notice(request.id, AUDITED)


# The message metadata an applied change is posted to the audit channel with: its request's ID, so that a second
# try can find whether Slack took the first.
AUDIT_EVENT = "backup_bot_applied_change"
# The audit entry settled (posted, found posted, or refused for good): what a request's end owes, rather than
# the claim of "audit", which an instance that stops before posting may leave behind.
AUDITED = "audit:posted"


def audit_posted_before(deps: Dependencies, client: WebClient, request: ChangeRequest) -> bool | None:
    """Whether the audit channel holds this applied change already, looked up since the request last moved."""
    return channel_history.posted_before(client, str(deps.audit_channel), request.updated_at, AUDIT_EVENT,
                                         "request_id", request.id, f"request {request.id}")


def owes_audit(deps: Dependencies, request: ChangeRequest) -> bool:
    return (request.state is RequestState.APPLIED and bool(deps.audit_channel)
            and deps.audit_channel != request.channel)
