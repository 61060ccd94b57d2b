"""A change request's message, its buttons, and the list of requests waiting on someone."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
)

from bot.domain.change_requests import ChangeKind, ChangeRequest, Expiry, RequestState
from bot.domain.changes import after_values
from bot.domain.commands import DatabaseRef
from bot.domain.outcomes import applied_before, request_estimate, stored_policy
from bot.domain.policy import (
    PATH_SEGMENT,
    BackupPolicy,
    describe_changes,
    describe_schedule,
)
from handlers.blocks.buttons import APPROVE, CANCEL, REVERT, edit_button, reject_button
from handlers.blocks.costs import estimate_text
from handlers.blocks.kit import (
    changes_text_between,
    context,
    escape,
    fit,
    lifecycle_text,
    literal,
    not_shown,
    packed,
    plural,
    schedule_text,
    section,
    to_dicts,
    when,
)
from handlers.blocks.mentions import mention, mentions, with_mentions

log = logging.getLogger(__name__)

STATE_LINES = {
    RequestState.PENDING: ":lock: <@{requester}> asks to change",
    RequestState.APPROVED: ":hourglass_flowing_sand: Approved; applying <@{requester}>'s change to",
    RequestState.APPLYING: ":hourglass_flowing_sand: Applying <@{requester}>'s change to",
    RequestState.APPLIED: ":white_check_mark: <@{requester}> changed",
    RequestState.FAILED: ":warning: Not applied: <@{requester}>'s change to",
    RequestState.REJECTED: ":x: Rejected by {decided_by}: <@{requester}>'s change to",
    RequestState.CANCELLED: ":no_entry: Cancelled by {decided_by}: <@{requester}>'s change to",
    RequestState.EXPIRED: ":hourglass: {expired}: <@{requester}>'s change to",
}
# Why a request expired (the domain's Expiry), as its message, thread and requester say it.
EXPIRED_WORDS = {
    Expiry.UNAPPROVED: "Expired before enough approvals",
    Expiry.AFTER_APPROVAL: "Expired after it had its approvals: judged again when its turn came to be applied (it "
                           "may have waited behind another change to the policy), it was not, and its time ran out",
}
EXPIRED_HEADS = {Expiry.UNAPPROVED: "Expired without enough approvals", Expiry.AFTER_APPROVAL: "Expired unapplied"}


def decider(request: ChangeRequest) -> str:
    """Who closed a request, as a mention; the bot for one it closed itself (an upgrade's cancelling)."""
    return "the bot" if closed_by_bot(request) else f"<@{request.decided_by}>"


def closed_by_bot(request: ChangeRequest) -> bool:
    return request.decided_by in (None, "backup-bot")


def request_headline(request: ChangeRequest, bold: bool = False) -> str:
    """Who asked what, in the request's state: the message's first line, and its notification text."""
    head = STATE_LINES[request.state].format(requester=request.requester, decided_by=decider(request),
                                             expired=EXPIRED_HEADS[Expiry.of(request)])
    if request.kind is not ChangeKind.UPDATE:
        verb = request.kind.value  # create, delete
        head = (head.replace("asks to change", f"asks to {verb}").replace(" changed", f" {verb}d")
                .replace("change to", "creation of" if verb == "create" else "deletion of"))
    mark = "*" if bold else ""
    return (f"{head} the backup policy {mark}{literal(request.policy_name)}{mark} of "
            f"{mark}{request.organization}/{request.database}{mark}")


GroupProgress = list[tuple[str, int, list[str]]]  # (group, how many it gives, who counts for it so far)


def groups_line(groups: GroupProgress) -> str:
    """Per group: who counts for it, and what it still owes."""
    parts = []
    for group, count, counted in groups:
        who = f" ({', '.join(f'<@{a}>' for a in counted)})" if counted else ""
        owed = f", {count - len(counted)} missing" if len(counted) < count else ""
        parts.append(f"{mention(group)}: {len(counted)} of {count}{who}{owed}")
    return "*By group:* " + fit(" · ".join(parts), 2800)


def approvals_text(needed: int, approved_by: Sequence[str], also: Sequence[str], approvers: Sequence[str]) -> str:
    """The approvals line of a request's message, and of a decided bulk change's: those that count (or decided
    it), those also given, and who may approve."""
    got = ", ".join(f"<@{a}>" for a in approved_by) or "none yet"
    # Each list gets its share of a section, so that a long one cannot push another out of sight.
    room = 900 if also else 1400
    given = f"; also approved: {fit(', '.join(f'<@{a}>' for a in also), 900)}" if also else ""
    return (f"*Approvals:* {len(approved_by)} of {needed} ({fit(got, room)}){given} · "
            f"*may approve:* {mentions(approvers, room + 100)}")


def request_blocks(request: ChangeRequest, approved_by: list[str], groups: GroupProgress | None = None,
                   also: Sequence[str] = ()) -> list[dict[str, Any]]:
    """A change request as it stands now: the one message the channel sees, updated at every step. `approved_by`:
    the approvals that count; `also`: those given that do not (no longer allowed, or beyond what was asked)."""
    if stored_policy(request) is None:
        return damaged_request_blocks(request)
    db = DatabaseRef(request.organization, request.database)
    applied = request.kind is ChangeKind.UPDATE and request.state is RequestState.APPLIED and request.after
    # An applied update as its PATCH found the policy: what changed in PlanetScale meanwhile is not its doing.
    before = BackupPolicy.model_validate(applied_before(request) if applied else request.before)
    after: dict[str, Any] | BackupPolicy = (BackupPolicy.model_validate(request.after) if request.after
                                           else after_values(request))
    lines = [request_headline(request, bold=True)]
    if request.revert_of:
        lines.append("_This reverts an earlier change._")
    if request.reason:
        lines.append(f"*Reason:* {with_mentions(request.reason)}")
    result: list[Block] = [*packed(lines, room=len(lines))[0], section(what_changes(request, before, after))]
    facts = []
    if request.kind is ChangeKind.DELETE:
        pass
    elif isinstance(after, BackupPolicy):
        facts.append(f"*Now:* {schedule_text(after)} ({after.target})\n*Next run:* {when(after.next_run_at)}")
    else:
        facts.append(f"*After:* {schedule_text(after)}")
    facts.append(estimate_text(request_estimate(request)))
    if request.risks:
        facts.append(f"*Worth a second look:* {escape(', '.join(request.risks))}")
    if request.approvals_needed:
        facts.append(approvals_text(request.approvals_needed, approved_by, also, request.approvers))
        if groups:
            facts.append(groups_line(groups))
    if request.state is RequestState.PENDING:
        facts.append(f"*Expires:* {when(datetime.fromtimestamp(request.expires_at, UTC).isoformat())}")
    if request.detail and (request.state is RequestState.FAILED
                           or (request.state is RequestState.CANCELLED and closed_by_bot(request))):
        facts.append(f"*Why:* {fit(with_mentions(request.detail), 1400)}")
    elif request.state is RequestState.APPLIED and request.detail:
        facts.append(f"*Note:* {fit(with_mentions(request.detail), 1400)}")
    elif request.state is RequestState.PENDING and request.detail:
        facts.append(f"*Judged again:* {fit(with_mentions(request.detail), 1400)}")
    elif request.state is RequestState.APPROVED:
        # Queued for the sweep (the policy busy or unreadable for a moment): no decision is left to click.
        why = fit(with_mentions(request.detail), 1400) if request.detail else "another change holds this " \
            "policy (being asked or applied)"
        facts.append(f"*Queued:* {why}; the bot applies it shortly, judged again then.")
    result += packed(facts, room=len(facts))[0]
    if request.state is RequestState.PENDING:
        result.append(ActionsBlock(block_id=f"request:{request.id}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=request.id, style="primary"),
            reject_button(request),
            ButtonElement(text="Cancel", action_id=CANCEL, value=request.id),
        ]))
    elif request.state is RequestState.APPLIED:
        revert = ButtonElement(text="Revert", action_id=REVERT, value=request.id,
                               confirm=revert_confirm(request.policy_name, after if isinstance(after, BackupPolicy)
                                                      else before.model_copy(update=after), before)
                               if request.kind is ChangeKind.UPDATE else lifecycle_revert_confirm(request))
        result.append(ActionsBlock(block_id=f"applied:{request.id}", elements=[
            # An ID no path holds (a creation's answer may carry one) takes no change, and may be past the 2,000
            # characters a button's value carries.
            *([] if request.kind is ChangeKind.DELETE or not PATH_SEGMENT.fullmatch(request.policy_id)
              else [edit_button(db, request.policy_id)]), revert]))
    sent = ", ".join(f"`{f}`" for f in request.changes)
    what = {ChangeKind.UPDATE: f"fields {sent}", ChangeKind.CREATE: "a new policy (`POST`)",
            ChangeKind.DELETE: f"deletes `{fit(escape(request.policy_id), 100)}`"}[request.kind]
    result.append(context(f"Request `{request.id[:8]}` · {what}"))
    return to_dicts(result)


def damaged_request_blocks(request: ChangeRequest) -> list[dict[str, Any]]:
    """A request whose stored policy no policy matches (damaged in the database; the bot ends it): who asked, where
    it stands and why, in plain words, as nothing it would show before and after can be read."""
    lines = [request_headline(request, bold=True), "_Its settings cannot be shown: the policy stored with it is "
                                                   "damaged in the bot's database._"]
    if request.detail and request.state in (RequestState.FAILED, RequestState.CANCELLED):
        lines.append(f"*Why:* {fit(with_mentions(request.detail), 1400)}")
    result: list[Block] = packed(lines, room=len(lines))[0]
    if request.state is RequestState.PENDING:  # a click ends it
        result.append(ActionsBlock(block_id=f"request:{request.id}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=request.id, style="primary"),
            reject_button(request), ButtonElement(text="Cancel", action_id=CANCEL, value=request.id)]))
    result.append(context(f"Request `{request.id[:8]}`"))
    return to_dicts(result)


def what_changes(request: ChangeRequest, before: BackupPolicy, after: BackupPolicy | dict[str, Any]) -> str:
    """Before → after for an update; the policy that comes or goes for a creation or a deletion."""
    if request.kind is ChangeKind.UPDATE:
        return changes_text_between(before, after)
    return lifecycle_text(request.kind, after if request.kind is ChangeKind.CREATE else before)


def lifecycle_revert_confirm(request: ChangeRequest) -> ConfirmObject:
    name = literal(request.policy_name, 80)
    text = (f"Delete {name}, which this created." if request.kind is ChangeKind.CREATE else
            f"Make {name} again as it was ({fit(escape(describe_schedule(request.before)), 120)}).")
    return ConfirmObject(title="Revert this change?", text=fit(f"{text} It is asked as a new change, judged by the "
                                                               "access rules, guardrails and approvals.", 300),
                         confirm="Ask to revert", deny="Keep it")


def revert_confirm(name: str, now: BackupPolicy | dict[str, Any], back_to: BackupPolicy | dict[str, Any],
                   outside: bool = False) -> ConfirmObject:
    """What a Revert will do, asked before it does it: a revert is a change like any other."""
    current = now if isinstance(now, BackupPolicy) else BackupPolicy.model_validate(now)
    target = back_to.model_dump() if isinstance(back_to, BackupPolicy) else back_to
    changes = describe_changes(current, target)
    steps = "; ".join(f"{c.label} {literal(c.before)} → {literal(c.after)}" for c in changes)
    intro = "Undo the change made outside the bot" if outside else f"Put {literal(name, 80)} back as it was"
    then = " It is asked as a new change, judged by the access rules, guardrails and approvals; nothing is sent " \
           "until it is allowed."
    text = f"{intro}: {steps or 'no visible change'}.{then}"
    if len(text) > 300:  # Slack's limit for a confirmation's text
        text = f"{intro} ({plural(len(changes), 'setting')}).{then}"
    return ConfirmObject(title="Revert this change?", text=fit(text, 300), confirm="Ask to revert",
                         deny="Keep it")


MAX_PENDING_SHOWN = 15  # each takes up to three blocks: a message holds 50
# Where the open requests a list leaves out are: their messages, and the list again once the oldest are decided.
PENDING_REST = ("Each is in its channel, with its buttons; the oldest are listed first, and the rest as they are "
                "decided.")


def pending_blocks(requests: list[ChangeRequest], total: int, user: str) -> list[dict[str, Any]]:
    """The oldest of the `total` open requests `user` can act on."""
    if not requests:
        return to_dicts([section("No open requests you can act on.")])
    blocks: list[Block] = [section(f"*Open requests you can act on* ({total})")]
    for request in requests[:MAX_PENDING_SHOWN]:
        try:
            changes = what_changes(request, BackupPolicy.model_validate(request.before), after_values(request))
            entry = packed([f"{request_headline(request)} (in <#{request.channel}>)", changes], room=2)[0]
            buttons = [ButtonElement(text="Cancel", action_id=CANCEL, value=request.id)] \
                if request.requester == user else [
                    ButtonElement(text="Approve", action_id=APPROVE, value=request.id, style="primary"),
                    reject_button(request)]
        except Exception:  # one request holding what no message can show hides no other
            log.exception("request %s could not be listed; it is left out", request.id)
            continue
        blocks += [*entry, ActionsBlock(elements=buttons)]
    if total > len(requests[:MAX_PENDING_SHOWN]):
        blocks.append(not_shown(total - len(requests[:MAX_PENDING_SHOWN]), PENDING_REST))
    return to_dicts(blocks)
