"""A bulk change in Block Kit: one message (a summary, the first policies, the buttons), and the whole list in
its thread, in replies each within Slack's limits (50 blocks, 3,000 characters a section, and about 12,000
characters of blocks in one message, which Slack refuses past as `msg_blocks_too_long`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject

from bot.domain.batches import Batch, BatchState, Member, Planned, Skipped, SkipReason
from bot.domain.bulk_standing import Standing
from bot.domain.change_requests import RequestState
from bot.domain.costs import DatabaseFacts, describe_cost, describe_size, estimate, unread_words
from bot.domain.outcomes import OutcomeKind, applied_before, owed_text
from bot.domain.policy import BackupPolicy, describe_changes, describe_schedule
from handlers.blocks import (
    approvals_text,
    context,
    escape,
    fit,
    literal,
    mentions,
    not_shown,
    packed,
    plural,
    section,
    to_dicts,
    when,
    with_mentions,
)

BULK_APPROVE, BULK_REJECT, BULK_CANCEL, BULK_RETRY = "bulk_approve", "bulk_reject", "bulk_cancel", "bulk_retry"
IN_MESSAGE = 12  # policies listed in the message itself; all of them are in its thread
SKIPPED_IN_MESSAGE = 5
LINE_LIMIT = 400  # one policy's line
MIN_LINE = 60  # a line shortened to fit a preview still names its database and policy
# A database's and a policy's name in one policy's line: both show, with room for what the line says of them.
DATABASE_SHOWN, POLICY_SHOWN = 80, 120
DATABASES_NAMED = 3  # in one group's approvals line; the others counted
REPLY_LIMIT = 9000  # characters of blocks in one thread reply, under Slack's cumulative limit with room left
REPLY_SECTIONS = 8

SKIP_WORDS = {SkipReason.NOT_ALLOWED: "not allowed", SkipReason.GUARDRAIL: "refused by a guardrail",
              SkipReason.INVALID: "the change does not hold on it", SkipReason.NO_APPROVERS: "nobody could approve",
              SkipReason.UNCHANGED: "already as asked", SkipReason.UNCHECKED: "could not be judged",
              SkipReason.UNREADABLE: "could not be read", SkipReason.GONE: "gone"}
OUTCOME_WORDS = {OutcomeKind.APPLIED: ":white_check_mark: applied",
                 # Its detail (the judge's) says what changed since the request, and where.
                 OutcomeKind.CONFLICT: ":twisted_rightwards_arrows: not applied",
                 OutcomeKind.FAILED: ":x: not applied, PlanetScale failed",
                 OutcomeKind.NO_LONGER_ALLOWED: ":no_entry: not applied, the rules or guardrails now refuse it",
                 # Its detail (the judge's) says the change no longer holds, and why.
                 OutcomeKind.INVALID: ":no_entry: not applied",
                 OutcomeKind.WAITING: ":hourglass: waiting: its rules now ask for more approvals",
                 OutcomeKind.QUEUED: ":hourglass_flowing_sand: not applied yet: the bot applies it shortly"}
# A policy whose write was sent and not confirmed (answered 504, or its answer lost): it may stand already, and
# nothing is sent again; what PlanetScale holds settles it.
SENT_UNCONFIRMED_WORDS = (":hourglass_flowing_sand: sent, not confirmed yet: the bot reads PlanetScale again shortly "
                          "(nothing is sent again) and this message will show the result")
STATE_WORDS = {RequestState.APPLIED: ":white_check_mark: applied", RequestState.FAILED: ":x: not applied",
               RequestState.APPROVED: ":hourglass_flowing_sand: applying", RequestState.APPLYING:
               ":hourglass_flowing_sand: applying", RequestState.PENDING: ":hourglass: waiting for approvals"}
HEADLINES = {BatchState.PENDING: ":lock: <@{requester}> asks to change",
             BatchState.APPROVED: ":package: <@{requester}>'s bulk change to",
             BatchState.REJECTED: ":x: Rejected by <@{decided_by}>: <@{requester}>'s bulk change to",
             BatchState.CANCELLED: ":no_entry: Cancelled by <@{decided_by}>: <@{requester}>'s bulk change to",
             BatchState.EXPIRED: ":hourglass: Expired without enough approvals: <@{requester}>'s bulk change to",
             BatchState.REFUSED: ":no_entry_sign: Not applied, the access rules no longer allow it: <@{requester}>'s "
                                 "bulk change to"}


def code_text(text: str) -> str:
    """Text from outside inside backticks: escaped, shortened whole, and no backtick to end it early."""
    return fit(escape(text.replace("`", "'")), 200)


def name_of(database: str, policy_name: str | None) -> str:
    return f"`{escape(database)[:DATABASE_SHOWN]}` *{literal(policy_name or 'all policies', POLICY_SHOWN)}*"


def hidden_chosen_words(hidden: tuple[tuple[str, str], ...]) -> str:
    """Chosen policies the access rules hide here since they were shown, by the IDs chosen: for the asker alone."""
    if not hidden:
        return ""
    named = ", ".join(name_of(database, f"policy {policy_id}") for database, policy_id in hidden[:5])
    more = f" and {len(hidden) - 5} more" if len(hidden) > 5 else ""
    return (f"{plural(len(hidden), 'chosen policy is', 'chosen policies are')} not in it: the access rules, as they "
            f"are now, do not let you see {'it' if len(hidden) == 1 else 'them'} in this channel: {named}{more}.")


def change_words(before: dict[str, Any], changes: dict[str, Any]) -> str:
    policy = BackupPolicy.model_validate(before)
    steps = describe_changes(policy, {**before, **changes})
    return "; ".join(f"{c.label} ~{literal(c.before)}~ → *{literal(c.after)}*" for c in steps) or "no visible change"


def cost_words(batch: Batch, planned: Planned) -> str:
    return cost_between(planned.before, batch.changes, planned.facts)


def cost_between(before_values: dict[str, Any], changes: dict[str, Any], seen: dict[str, Any] | None) -> str:
    """This policy's own cost, before → after: the backups it keeps at once, their estimated storage, and
    PlanetScale's estimated storage cost where it gives one; why the storage is not estimated where it is not.
    `seen`: the database's facts as read when it was asked."""
    facts = DatabaseFacts.of(seen)
    cost = estimate(before_values, {**before_values, **changes}, facts)
    before, after = cost.before, cost.after
    if before is None or after is None:
        return ""
    words = f"kept {before.kept} → {after.kept}"
    if before.storage is not None and after.storage is not None:
        words += f", about {describe_size(before.storage)} → {describe_size(after.storage)}"
        if before.cost is not None and after.cost is not None:
            words += (f", PlanetScale's estimated storage cost {describe_cost(before.cost)} → "
                      f"{describe_cost(after.cost)}")
    elif facts is not None and facts.unread:
        words += f", storage not estimated: its backups {unread_words(facts.unread)} ({with_mentions(facts.unread)})"
    elif facts is not None:
        words += ", storage not estimated: no successful backup yet"
    return f" ({words})"


def planned_line(batch: Batch, planned: Planned) -> str:
    # Its risks before its cost: a line too long loses its end, and the risks are what an approver must see.
    look = f" · :eyes: {escape(', '.join(planned.risks))}" if planned.risks else ""
    return fit(f"• {name_of(planned.database, planned.policy_name)}: {change_words(planned.before, batch.changes)}"
               f"{look}{cost_words(batch, planned)}", LINE_LIMIT)


def second_look(planned: Sequence[Planned]) -> str | None:
    """What a single request shows as "Worth a second look", over many policies: each kind counted, its first
    few policies named (every policy's own are on its line in the thread)."""
    kinds: dict[str, list[Planned]] = {}
    for p in planned:
        for risk in p.risks:
            # A database's name in a risk ("leaves app-db with no production policy") is its line's to tell.
            kinds.setdefault(risk.replace(f"leaves {p.database} with", "leaves its database with"), []).append(p)
    if not kinds:
        return None
    told = []
    for kind, those in kinds.items():
        named = ", ".join(name_of(p.database, p.policy_name) for p in those[:DATABASES_NAMED])
        more = f" and {len(those) - DATABASES_NAMED} more" if len(those) > DATABASES_NAMED else ""
        told.append(f"{escape(kind)}: {plural(len(those), 'policy', 'policies')} ({named}{more})")
    return fit("*Worth a second look:* " + "; ".join(told), 1500)


def skipped_line(skipped: Skipped) -> str:
    named = skipped.policy_name or (f"policy {skipped.policy_id}" if skipped.policy_id else None)
    return fit(f"• {name_of(skipped.database, named)}: {SKIP_WORDS[skipped.why]}: "
               f"{with_mentions(skipped.detail)}", LINE_LIMIT)


def member_line(member: Member) -> str:
    request = member.request
    words = (OUTCOME_WORDS.get(member.outcome) if member.outcome else None) or STATE_WORDS.get(
        request.state, request.state.value)
    if request.state is RequestState.APPLYING and member.outcome is OutcomeKind.QUEUED:
        words = SENT_UNCONFIRMED_WORDS
    if request.state is RequestState.FAILED and member.outcome not in (OutcomeKind.CONFLICT, OutcomeKind.FAILED,
                                                                      OutcomeKind.NO_LONGER_ALLOWED,
                                                                      OutcomeKind.INVALID):
        words = STATE_WORDS[RequestState.FAILED]
    # A policy still open says why it waits and what happens next, as a failed one says why it failed.
    told = request.state is RequestState.FAILED or (request.state.is_open and member.outcome in (
        OutcomeKind.QUEUED, OutcomeKind.WAITING))
    why = f": {with_mentions(request.detail)}" if told and request.detail else ""
    if request.state is RequestState.APPLIED and request.after:
        # As the post of one applied change: before → after, the policy now in words, its next run, its cost.
        why = (f": {change_words(request.before, request.changes)}; now {escape(describe_schedule(request.after))}, "
               f"next run {when(request.after.get('next_run_at'))}"
               f"{cost_between(applied_before(request), request.changes, request.facts)}")
    asked_as = str(request.before.get("name") or request.policy_name)
    # Named as it was read when applied; renamed in PlanetScale since the ask, its old name follows.
    was = f" (named “{literal(asked_as, POLICY_SHOWN)}” when asked)" if asked_as != request.policy_name else ""
    return fit(f"• {name_of(request.database, request.policy_name)}{was}: {words}{why}", LINE_LIMIT)


def member_lines(members: Sequence[Member]) -> list[str]:
    """The policies not applied first: they are what a reader must act on."""
    ordered = sorted(members, key=lambda m: m.request.state is RequestState.APPLIED)
    return [member_line(m) for m in ordered]


def in_message(lines: Sequence[str]) -> tuple[list[Block], int]:
    """What a batch's message lists of `lines` itself (one section), and how many it leaves to the rest."""
    shown, left = packed(lines[:IN_MESSAGE], room=1)
    return shown, len(lines) - min(len(lines), IN_MESSAGE) + left


def headline(batch: Batch) -> str:
    head = HEADLINES[batch.state].format(requester=batch.requester, decided_by=batch.decided_by or batch.requester)
    return f"{head} {plural(len(batch.planned), 'backup policy', 'backup policies')} of {batch.organization}"


def summary(batch: Batch, members: Sequence[Member]) -> str:
    count = plural(len(batch.planned), "policy", "policies")
    databases = plural(len(batch.databases), "database", "databases")
    if members:
        applied = sum(1 for m in members if m.request.state is RequestState.APPLIED)
        failed = sum(1 for m in members if m.not_applied)
        open_ = len(members) - applied - failed
        text = f"*Applied to {applied} of {len(members)}* in {databases}"
        text += f"; *{failed} not applied*" if failed else ""
        text += f"; {open_} still in progress" if open_ else ""
        return text + "."
    verb = "Would change" if batch.state is BatchState.PENDING else "Was to change"
    return f"{verb} {count} in {databases}."


def standing_words(standing: Standing) -> str:
    """One group of policies' approvals: what they still need and from whom, or that they have them."""
    shown = ", ".join(f"`{escape(d)[:DATABASE_SHOWN]}`" for d in standing.databases[:DATABASES_NAMED])
    if len(standing.databases) > DATABASES_NAMED:
        shown += f" and {len(standing.databases) - DATABASES_NAMED} more"
    where = f"{shown} ({plural(standing.policies, 'policy', 'policies')})"
    if standing.rejected_by is not None:
        return f"{where}: rejected by <@{standing.rejected_by}>, nothing is sent for them"
    got = ", ".join(f"<@{a}>" for a in standing.counted)
    if not standing.needed:
        # Their rules ask none: "approved" would tell approvals nobody gave.
        return f"{where}: no approval needed"
    if not standing.missing:
        return f"{where}: approved" + (f" by {got}" if got else "")
    owed = f" ({escape(owed_text(standing.owed))})" if standing.owed else ""
    return (f"{where}: {plural(standing.missing, 'more approval')}{owed} still needed from "
            f"{mentions(standing.approvers, 600)}" + (f" (approved so far by {got})" if got else ""))


def approvals_line(batch: Batch, approved_by: Sequence[str], standings: Sequence[Standing] | None,
                   members: Sequence[Member] = (), also: Sequence[str] = ()) -> str:
    needed = {m.request.approvals_needed for m in members}
    if batch.state is not BatchState.PENDING and len(needed) == 1 and (asked := needed.pop()):
        # Decided, its policies judged alike: said as a single change's decided message says it.
        return approvals_text(asked, approved_by, also, batch.approvers)
    got = ", ".join(f"<@{a}>" for a in approved_by) or "none yet"
    if standings is not None and len(standings) > 1:
        # Policies under different rules count their own approvals: one number over the batch would mislead.
        return fit("*Approvals*, each policy under its own rules: " + "; ".join(map(standing_words, standings)),
                   2000)
    groups = ", ".join(f"{n} from {g}" for g, n in (batch.approvals_from or {}).items())
    return (f"*Approvals:* {len(approved_by)} of {batch.approvals_needed}"
            + (f" ({escape(groups)})" if groups else "") + f", what every policy's rules ask together "
            f"({fit(got, 400)}) · *may approve:* {mentions(batch.approvers, 400)}")


def batch_blocks(batch: Batch, members: Sequence[Member], approved_by: Sequence[str], buttons: bool = True,
                 standings: Sequence[Standing] | None = None, threaded: bool = True,
                 also: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The batch's one message, as it stands now. `threaded`: the whole list is in its thread; else in the
    messages posted right after it (where the bot cannot post in the channel, or a preview). `also`: the
    approvals given that did not decide it."""
    top = [f"*{headline(batch)}* (`{code_text(batch.selection)}`)"]
    if batch.reason:
        top.append(f"*Reason:* {fit(with_mentions(batch.reason), 600)}")
    top.append(summary(batch, members))
    # In the first section, which holds little else: the facts' sections are full enough already.
    look = second_look([p for p in batch.planned if p.rejected_by is None]) if not members else None
    top += [look] if look else []
    result: list[Block] = packed(top, room=1)[0]
    lines = member_lines(members) if members else [planned_line(batch, p) for p in batch.planned]
    # One section of policies, one of the summary, two of facts: the whole message well under 12,000 characters.
    shown, more = in_message(lines)
    result += shown
    facts = []
    if more:
        facts.append(f"…and {plural(more, 'more policy', 'more policies')}: "
                     + ("the thread lists them all." if threaded else "the messages after this one list them all."))
    if batch.skipped:
        facts.append(f"*Not in this change ({len(batch.skipped)}):*")
        facts += [skipped_line(s) for s in batch.skipped[:SKIPPED_IN_MESSAGE]]
        if len(batch.skipped) > SKIPPED_IN_MESSAGE:
            facts.append(f"…and {len(batch.skipped) - SKIPPED_IN_MESSAGE} more in the "
                         + ("thread." if threaded else "messages after this one."))
    if batch.approvals_needed:
        facts.append(approvals_line(batch, approved_by, standings, members, also))
    out = [p for p in batch.planned if p.rejected_by is not None]
    if out and batch.state is not BatchState.PENDING:
        by = ", ".join(f"<@{who}>" for who in dict.fromkeys(p.rejected_by for p in out))
        facts.append(f"*Rejected* by {by} for {plural(len(out), 'policy', 'policies')}: nothing was sent for them.")
    if batch.state is BatchState.PENDING:
        facts.append(f"*Expires:* {when(datetime.fromtimestamp(batch.expires_at, UTC).isoformat())}")
    result += packed(facts, room=2)[0]
    actions = batch_buttons(batch, members) if buttons else []
    if actions:
        result.append(ActionsBlock(block_id=f"batch:{batch.id}", elements=actions))
    fields = ", ".join(f"`{f}`" for f in batch.changes)
    result.append(context(f"Bulk change `{batch.id[:8]}` · fields {fields} · each policy is judged again and "
                          "applied on its own"))
    return to_dicts(result)


def batch_buttons(batch: Batch, members: Sequence[Member]) -> list[ButtonElement]:
    if batch.state is BatchState.PENDING:
        return [ButtonElement(text="Approve", action_id=BULK_APPROVE, value=batch.id, style="primary"),
                ButtonElement(text="Reject", action_id=BULK_REJECT, value=batch.id, style="danger",
                              confirm=ConfirmObject(title="Reject this bulk change?", text="Nothing will be sent to "
                                                    "PlanetScale for the policies you may approve.", confirm="Reject",
                                                    deny="Keep it")),
                ButtonElement(text="Cancel", action_id=BULK_CANCEL, value=batch.id)]
    failed = sum(1 for m in members if m.retryable)
    if failed:
        return [ButtonElement(text=f"Retry the {failed} not applied"[:75], action_id=BULK_RETRY, value=batch.id)]
    return []


def thread_replies(lines: Sequence[str], title: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """`lines` under `title`, in as many replies as Slack's limits ask."""
    replies: list[tuple[str, list[dict[str, Any]]]] = []
    rest = list(lines)
    while rest:
        taken, size = 0, 0
        while taken < len(rest) and size + len(rest[taken]) + 1 <= REPLY_LIMIT:
            size += len(rest[taken]) + 1
            taken += 1
        chunk = rest[:max(taken, 1)]
        sections, left = packed(chunk, room=REPLY_SECTIONS)
        used = len(chunk) - left
        number = len(replies) + 1
        replies.append((f"{title} ({number})", to_dicts([context(f"{title}, part {number}"), *sections])))
        rest = rest[used:]
    return replies


def plan_replies(batch: Batch) -> list[tuple[str, list[dict[str, Any]]]]:
    lines = [planned_line(batch, p) for p in batch.planned]
    replies = thread_replies(lines, f"Each policy this change would change, before → after ({len(lines)})")
    return replies + skipped_replies(batch) if batch.skipped else replies


def skipped_replies(batch: Batch) -> list[tuple[str, list[dict[str, Any]]]]:
    return thread_replies([skipped_line(s) for s in batch.skipped],
                          f"Policies it may not change, and why ({len(batch.skipped)})")


def preview_replies(batch: Batch, parts: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """The whole list in at most `parts` messages, where there is no thread to hold more, and the policies it
    may not change under the ones it would."""
    planned = [planned_line(batch, p) for p in batch.planned]
    skipped = [skipped_line(s) for s in batch.skipped]
    title = f"Each policy this change would change, before → after ({len(planned)})"
    if skipped:
        title += f", then those it may not change, and why ({len(skipped)})"
    return fitted_replies(planned + skipped, title, parts)


def fitted_replies(lines: Sequence[str], title: str, parts: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """`lines` in at most `parts` messages, each line shortened as far as it takes; what still does not fit is
    counted at the end of the last, never dropped unsaid."""
    if parts <= 0:
        return []
    limit = LINE_LIMIT
    while True:
        fitted = [fit(line, limit) for line in lines]
        replies = thread_replies(fitted, title)
        if len(replies) <= parts or limit <= MIN_LINE:
            break
        limit = max(MIN_LINE, limit * 4 // 5)
    if len(replies) <= parts:
        return replies
    low, high = 0, len(fitted)  # the most lines that fit in `parts` messages
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(thread_replies(fitted[:middle], title)) <= parts else (low, middle - 1)
    shown = thread_replies(fitted[:low], title)
    text, last = shown[-1]
    note = context(f"…and {len(fitted) - low} more not shown here: ask for fewer policies at once to see each one.")
    shown[-1] = (text, [*last, *to_dicts([note])])
    return shown


def outcome_replies(members: Sequence[Member], parts: int | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
    title = f"How each policy ended ({len(members)})"
    lines = member_lines(members)
    return thread_replies(lines, title) if parts is None else fitted_replies(lines, title, parts)


def landed_late_words(batch: Batch, member: Member) -> str:
    """A policy this bulk change told as not applied, found carried out since: told again, as it now stands."""
    return (f"Correction to how bulk change `{batch.id[:8]}` (`{code_text(batch.selection)}`) ended: one policy told "
            f"as not applied was applied after all (PlanetScale carried out the change after the bot had closed it; "
            f"nothing more is needed for it, and Retry no longer offers it).\n{member_line(member)}")


def audit_replies(batch: Batch, members: Sequence[Member],
                  outcomes: Sequence[tuple[str, list[dict[str, Any]]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """What the audit channel's entry of a bulk change (drawn unthreaded: the channel has no thread of it) leaves
    to the messages after it: how each policy ended (`outcomes`, the thread's replies), and those it may not
    change, when the entry cannot list them all; nothing when it does."""
    replies = list(outcomes) if in_message(member_lines(members))[1] else []
    return replies + skipped_replies(batch) if len(batch.skipped) > SKIPPED_IN_MESSAGE else replies



PENDING_SHOWN = 10  # two blocks each


def pending_batch_blocks(batches: Sequence[Batch], user: str) -> list[dict[str, Any]]:
    """Open bulk changes someone can act on, with the buttons they may use."""
    result: list[Block] = [section(f"*Open bulk changes you can act on* ({len(batches)})")]
    return to_dicts(result + batch_entries(batches, user, PENDING_SHOWN, "pending"))


def batch_entries(batches: Sequence[Batch], user: str, shown: int, where: str) -> list[Block]:
    """Each open bulk change in two blocks (what it is, the buttons `user` may use), at most `shown` of them."""
    result: list[Block] = []
    for batch in batches[:shown]:
        result.append(section(fit(f"{headline(batch)} (`{code_text(batch.selection)}`, in <#{batch.channel}>)",
                                  1000)))
        buttons = batch_buttons(batch, [])
        result.append(ActionsBlock(block_id=f"{where}:{batch.id}", elements=buttons[2:] if batch.requester == user
                                   else buttons[:2]))
    if len(batches) > shown:
        pending = f"`/backup-policy pending` lists the oldest {PENDING_SHOWN}. " if shown < PENDING_SHOWN else ""
        result.append(not_shown(len(batches) - shown, f"{pending}Each is in its channel, with its buttons; the oldest "
                                                      "are listed first, and the rest as they close."))
    return result
