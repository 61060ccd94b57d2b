"""Every Block Kit view the bot sends, built with slack_sdk's models and kept inside Slack's size limits."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    TimePickerElement,
)
from slack_sdk.models.views import View as ModalView

from bot.domain.access import Capability, mention, mentions
from bot.domain.audit import AuditEvent
from bot.domain.backups import PolicyHealth
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.changes import ChangePlan, after_values
from bot.domain.grammar import EXAMPLES, MAX_REASON_LENGTH, UPDATE_KEYS_HELP, USAGE_LINES, DatabaseRef
from bot.domain.policy import (
    DAY_NAMES,
    WEEK_NAMES,
    BackupPolicy,
    PolicyUpdate,
    describe_changes,
    describe_day,
    describe_schedule,
    describe_week,
    resulting_values,
)
from bot.domain.watch import WATCH_ACTOR

MAX_BLOCKS = 50  # in a message; a modal holds 100, and no view here comes near that
MAX_SECTION_TEXT = 3000  # a section's text, and any mrkdwn text object
MAX_HEADER_TEXT = 150
MAX_MODAL_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_VALUE_SHOWN = 1000  # one value in a list of changes, so that every change of a policy fits in one section
MAX_NAME_IN_LINE = 300  # a name inside a one-line entry (history), so that the entry's other parts still show
USER_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")  # a user mention survives escaping; nothing else does
# What a cut must not split: Slack's escapes, and `<…>` tokens (mentions, dates, links). Every literal `<` the bot
# writes is a token, since user text is escaped first.
UNCUTTABLE = re.compile(r"&(?:amp|lt|gt);|<[^<>\n]*>")
ELLIPSIS = "…"
# Unicode's format characters (Cf), but the zero-width joiner; and lone surrogates (Cs, JSON's `\\ud800`), which
# no UTF-8 can carry to Slack.
INVISIBLE = re.compile("[" + "".join(re.escape(chr(c)) for c in range(0x80, 0x110000)
                                     if c != 0x200D and unicodedata.category(chr(c)) in ("Cf", "Cs")) + "]")


def escape(text: str) -> str:
    """Slack's three control characters, which stops a policy name from becoming a mention or a link; and the
    invisible format characters (Unicode Cf: bidi overrides, zero-width spaces) shown as `\\u202e`, so that one
    name cannot pass for another. The zero-width joiner stays: emoji are built with it."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if text.isascii():
        return text
    return INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def with_mentions(text: str) -> str:
    """Escaped, but with user mentions kept: they notify one person and cannot reach a whole channel."""
    return USER_MENTION.sub(r"<@\1>", escape(text))


def fit(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters; else shortened to fit, ending in "…".

    The one way the bot shortens what it shows. The cut never falls inside an escape (`&amp;`) or a `<…>` token
    (a mention, a date), which would show stray characters or break the token, and falls at a space when one is
    near, so that a word is not split without need.
    """
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    space = max(text.rfind(" ", max(cut - 16, 1), cut + 1), text.rfind("\n", max(cut - 16, 1), cut + 1))
    if space > 0:
        cut = space
    for token in UNCUTTABLE.finditer(text):
        if token.start() >= cut:
            break
        if cut < token.end():
            cut = token.start()
            break
    return text[:cut].rstrip() + ELLIPSIS


def section(text: str) -> SectionBlock:
    if not text.strip():
        raise ValueError("a section needs text: Slack refuses an empty one")
    return SectionBlock(text=MarkdownTextObject(text=fit(text, MAX_SECTION_TEXT)))


def context(text: str) -> ContextBlock:
    if not text.strip():
        raise ValueError("a context needs text: Slack refuses an empty one")
    return ContextBlock(elements=[MarkdownTextObject(text=fit(text, MAX_SECTION_TEXT))])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=fit(text, MAX_HEADER_TEXT))


def packed(lines: Sequence[str], room: int) -> tuple[list[Block], int]:
    """Lines in as few sections as Slack's 3,000 characters a section allow, at most `room` of them; a line too
    long for a section of its own is shortened. Returns the sections and how many lines did not fit."""
    blocks: list[Block] = []
    chunk = ""
    for shown, line in enumerate(lines):
        line = fit(line, MAX_SECTION_TEXT)
        if chunk and len(chunk) + 1 + len(line) > MAX_SECTION_TEXT:
            blocks.append(section(chunk))
            chunk = ""
            if len(blocks) >= room:
                return blocks, len(lines) - shown
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk.strip():
        blocks.append(section(chunk))
    return blocks, 0


def not_shown(count: int) -> ContextBlock:
    return context(f"…and {count} more not shown.")


def to_dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks: Slack takes at most {MAX_BLOCKS} in a message")
    return [b.to_dict() for b in blocks]


def when(iso: str | None) -> str:
    """A timestamp that Slack shows in the reader's own time zone, with a UTC fallback."""
    if not iso:
        return "not scheduled"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        if moment.tzinfo is None:  # PlanetScale's times are UTC
            moment = moment.replace(tzinfo=UTC)
        stamp = int(moment.timestamp())
        fallback = moment.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")
    except (ValueError, OverflowError, OSError):  # not a time, or one past the calendar's ends
        return fit(escape(iso), 100)
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{fallback}>"


def policy_line(policy: BackupPolicy) -> str:
    flags = " · required" if policy.required else ""
    return (f"• *{escape(policy.name)}* (`{escape(policy.id)}`, {policy.target}{flags}): "
            f"{describe_schedule(policy)}")


# --- answers to the caller --------------------------------------------------------------------------


READ_SUBCOMMANDS = ("help", "list", "show", "history", "pending", "export")


def help_blocks(command: str, capabilities: list[Capability]) -> list[dict[str, Any]]:
    """Usage with examples, limited to what this caller may do (`capabilities` from the access rules)."""
    if not capabilities:
        return to_dicts([
            header("Backup policies from Slack"),
            section("You are not named in any access rule for this channel, so you cannot see or change backup "
                    "policies here. Ask whoever keeps the bot's access file to add you (by Slack user ID or "
                    "user group)."),
        ])
    may_change = any(c.may_change for c in capabilities)
    usage = "\n".join(f"`{command} {escape(u)}`  {escape(what)}" for u, what in USAGE_LINES
                      if may_change or u.split()[0] in READ_SUBCOMMANDS)
    rights = "\n".join(f"• {escape(c.describe())}" for c in capabilities)
    result: list[Block] = [header("Backup policies from Slack"), section(usage),
                           section(f"*What you may do here*\n{rights}")]
    if may_change:
        keys = "\n".join(f"`{k}`  {escape(v)}" for k, v in UPDATE_KEYS_HELP)
        examples = "\n".join(f"`{escape(e.replace('/backup-policy', command, 1))}`" for e in EXAMPLES)
        result += [
            section(f"*Keys for update*\n{keys}\nThe API's own field names work too (`retention_value=7`, "
                    "`schedule_week=0`). Add `reason=\"…\"` to say why, `--dry-run` to preview."),
            section(f"*Examples*\n{examples}"),
        ]
    return to_dicts(result)


def error_text(message: str) -> str:
    return f":warning: {message}"


def policy_list_blocks(db: DatabaseRef, policies: list[BackupPolicy], hidden: int = 0) -> list[dict[str, Any]]:
    not_yours = f" ({hidden} more with targets you may not see)" if hidden else ""
    if not policies:
        return to_dicts([section(f"*{db}* has no backup policies you may see{not_yours}.")])
    listing, left_out = packed([policy_line(p) for p in policies], room=MAX_BLOCKS - 3)
    blocks: list[Block] = [section(f"*Backup policies of {db}* ({len(policies)}){not_yours}"), *listing]
    if left_out:
        blocks.append(not_shown(left_out))
    blocks.append(context(f"`/backup-policy show {db} &lt;ID or name&gt;` for one in full."))
    return to_dicts(blocks)


def policy_fields(policy: BackupPolicy) -> str:
    rows = [
        ("Schedule", describe_schedule(policy)),
        ("Target", policy.target + (" (a required system policy)" if policy.required else "")),
        ("Time", f"{policy.schedule_time} UTC"),
    ]
    if policy.schedule_day is not None:
        rows.append(("Day", describe_day(policy.schedule_day)))
    if policy.schedule_week is not None:
        rows.append(("Week", describe_week(policy.schedule_week)))
    rows += [("Next run", when(policy.next_run_at)), ("Last ran", when(policy.last_ran_at)
                                                       if policy.last_ran_at else "never")]
    return "\n".join(f"*{label}:* {value}" for label, value in rows)


def policy_detail_blocks(db: DatabaseRef, policy: BackupPolicy) -> list[dict[str, Any]]:
    return to_dicts([
        header(policy.name if policy.name.strip() else policy.id),
        section(policy_fields(policy)),
        ActionsBlock(elements=[edit_button(db, policy.id)]),
        context(f"{db} · ID `{escape(policy.id)}` · updated {when(policy.updated_at)}"),
    ])


def guardrails_text(guardrails: Sequence[str]) -> str:
    """Which guardrails a change meets (and which it overrides), one line each."""
    if not guardrails:
        return "*Guardrails:* none covers this policy."
    return fit("*Guardrails:*\n" + "\n".join(f"• {escape(line)}" for line in guardrails), MAX_SECTION_TEXT)


def dry_run_blocks(plan: ChangePlan, approvals: int = 0, guardrails: Sequence[str] = ()) -> list[dict[str, Any]]:
    body = ", ".join(f"`{k}={fit(escape(str(v)), MAX_VALUE_SHOWN)}`" for k, v in plan.update.to_api().items())
    return to_dicts([
        section(f":mag: *Dry run*: nothing was sent. The change to *{escape(plan.before.name)}* of "
                f"*{plan.db}* would be:"),
        section(changes_text_between(plan.before, plan.after_values)),
        section(f"*After:* {describe_schedule(plan.after_values)}"),
        section(guardrails_text(guardrails)),
        context(f"Would send `PATCH` with {body}. Run it again without `--dry-run` to "
                + (f"ask for the {plural(approvals, 'approval')} it needs." if approvals else "apply.")),
    ])



# --- change requests ---------------------------------------------------------------------------------

APPROVE, REJECT, CANCEL, REVERT = "request_approve", "request_reject", "request_cancel", "change_revert"
STATE_LINES = {
    RequestState.PENDING: ":lock: <@{requester}> asks to change",
    RequestState.APPROVED: ":hourglass_flowing_sand: Approved; applying <@{requester}>'s change to",
    RequestState.APPLYING: ":hourglass_flowing_sand: Applying <@{requester}>'s change to",
    RequestState.APPLIED: ":white_check_mark: <@{requester}> changed",
    RequestState.FAILED: ":warning: Not applied: <@{requester}>'s change to",
    RequestState.REJECTED: ":x: Rejected by <@{decided_by}>: <@{requester}>'s change to",
    RequestState.CANCELLED: ":no_entry: Cancelled by <@{decided_by}>: <@{requester}>'s change to",
    RequestState.EXPIRED: ":hourglass: Expired without enough approvals: <@{requester}>'s change to",
}


def request_headline(request: ChangeRequest, bold: bool = False) -> str:
    """Who asked what, in the request's state: the message's first line, and its notification text."""
    head = STATE_LINES[request.state].format(requester=request.requester,
                                             decided_by=request.decided_by or request.requester)
    mark = "*" if bold else ""
    return (f"{head} the backup policy {mark}{escape(request.policy_name)}{mark} of "
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


def reject_button(request: ChangeRequest) -> ButtonElement:
    """Reject asks first wherever it is shown: a slip closes the request for good."""
    return ButtonElement(text="Reject", action_id=REJECT, value=request.id, style="danger",
                         confirm=ConfirmObject(title="Reject this change?", text=f"Nothing will be sent to "
                                               f"PlanetScale and <@{request.requester}> will be told.",
                                               confirm="Reject", deny="Keep it"))


def request_blocks(request: ChangeRequest, approved_by: list[str],
                   groups: GroupProgress | None = None) -> list[dict[str, Any]]:
    """A change request as it stands now: the one message the channel sees, updated at every step."""
    db = DatabaseRef(request.organization, request.database)
    before = BackupPolicy.model_validate(request.before)
    after: dict[str, Any] | BackupPolicy = (BackupPolicy.model_validate(request.after) if request.after
                                           else after_values(request))
    lines = [request_headline(request, bold=True)]
    if request.revert_of:
        lines.append("_This reverts an earlier change._")
    if request.reason:
        lines.append(f"*Reason:* {with_mentions(request.reason)}")
    result: list[Block] = [*packed(lines, room=len(lines))[0], section(changes_text_between(before, after))]
    facts = []
    if isinstance(after, BackupPolicy):
        facts.append(f"*Now:* {describe_schedule(after)} ({after.target})\n*Next run:* {when(after.next_run_at)}")
    else:
        facts.append(f"*After:* {describe_schedule(after)}")
    if request.risks:
        facts.append(f"*Worth a second look:* {escape(', '.join(request.risks))}")
    if request.approvals_needed:
        got = ", ".join(f"<@{a}>" for a in approved_by) or "none yet"
        # Each list gets half a section, so that a long one cannot push the other out of sight.
        facts.append(f"*Approvals:* {len(approved_by)} of {request.approvals_needed} ({fit(got, 1400)}) · "
                     f"*may approve:* {fit(mentions(request.approvers), 1400)}")
        if groups:
            facts.append(groups_line(groups))
    if request.state is RequestState.PENDING:
        facts.append(f"*Expires:* {when(datetime.fromtimestamp(request.expires_at, UTC).isoformat())}")
    if request.state is RequestState.FAILED and request.detail:
        facts.append(f"*Why:* {fit(with_mentions(request.detail), 1400)}")
    elif request.state is RequestState.PENDING and request.detail:
        facts.append(f"*Judged again:* {fit(with_mentions(request.detail), 1400)}")
    result += packed(facts, room=len(facts))[0]
    if request.state is RequestState.PENDING:
        result.append(ActionsBlock(block_id=f"request:{request.id}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=request.id, style="primary"),
            reject_button(request),
            ButtonElement(text="Cancel", action_id=CANCEL, value=request.id),
        ]))
    elif request.state is RequestState.APPLIED:
        result.append(ActionsBlock(block_id=f"applied:{request.id}", elements=[
            edit_button(db, request.policy_id),
            ButtonElement(text="Revert", action_id=REVERT, value=request.id,
                          confirm=revert_confirm(request.policy_name, after, request.before))]))
    sent = ", ".join(f"`{f}`" for f in request.changes)
    result.append(context(f"Request `{request.id[:8]}` · fields {sent}"))
    return to_dicts(result)


def revert_confirm(name: str, now: BackupPolicy | dict[str, Any], back_to: BackupPolicy | dict[str, Any],
                   outside: bool = False) -> ConfirmObject:
    """What a Revert will do, asked before it does it: a revert is a change like any other."""
    current = now if isinstance(now, BackupPolicy) else BackupPolicy.model_validate(now)
    target = back_to.model_dump() if isinstance(back_to, BackupPolicy) else back_to
    changes = describe_changes(current, target)
    steps = "; ".join(f"{c.label} {escape(c.before)} → {escape(c.after)}" for c in changes)
    intro = "Undo the change made outside the bot" if outside else f"Put {fit(escape(name), 80)} back as it was"
    then = " It is asked as a new change, judged by the access rules, guardrails and approvals; nothing is sent " \
           "until it is allowed."
    text = f"{intro}: {steps or 'no visible change'}.{then}"
    if len(text) > 300:  # Slack's limit for a confirmation's text
        text = f"{intro} ({plural(len(changes), 'setting')}).{then}"
    return ConfirmObject(title="Revert this change?", text=fit(text, 300), confirm="Ask to revert",
                         deny="Keep it")


def changes_text_between(before: BackupPolicy, after: BackupPolicy | dict[str, Any]) -> str:
    lines = [f"• {c.label}: ~{fit(escape(c.before), MAX_VALUE_SHOWN)}~ → *{fit(escape(c.after), MAX_VALUE_SHOWN)}*"
             for c in describe_changes(before, after)]
    return "\n".join(lines) or "• no visible change"


# How each kind of entry reads in `history`: {who} is the entry's actor.
HISTORY_WORDS = {
    "requested": "{who} asked to change",
    "approved": "{who} approved the change to",
    "waiting": "the change waits for more approvals:",
    "applied": "{who} changed",
    "failed": "the change failed:",
    "refused": "{who} was refused:",
    "rejected": "{who} rejected the change to",
    "cancelled": "{who} cancelled the change to",
    "expired": "the request expired, nothing sent:",
    "dry_run": "{who} previewed a change to",
    "changed_outside": "{who} changed",
    "created_outside": "{who} created",
    "deleted_outside": "{who} deleted",
}
# Entries the bot writes for itself (a change on its way to PlanetScale): their outcome has its own entry.
INTERNAL_ACTIONS = frozenset({"sending"})
# "needs 2 approval(s)" as entries of the trail write it: said as people say it.
COUNTED = re.compile(r"\b([0-9]+) ([a-z]+)\(s\)")


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 policy`, `2 policies`: `many` where adding an s is wrong."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def history_line(event: AuditEvent) -> str:
    def shown(name: str) -> str:
        return fit(escape(name), MAX_NAME_IN_LINE)

    what = ""
    if event.before and event.sent:
        before = BackupPolicy.model_validate(event.before)
        what = "; ".join(f"{c.label} {shown(c.before)} → {shown(c.after)}" for c in
                         describe_changes(before, resulting_values(before, PolicyUpdate(**event.sent))))
    detail = COUNTED.sub(lambda m: plural(int(m.group(1)), m.group(2)), event.detail or "")
    extra = f" ({fit(with_mentions(detail), 400)})" if detail else ""
    reason = f" — “{fit(escape(event.reason), 300)}”" if event.reason and event.action == "requested" else ""
    who = ("someone outside the bot" if event.actor == WATCH_ACTOR else "the bot" if event.actor == "backup-bot"
           else f"<@{event.actor}>")
    words = HISTORY_WORDS.get(event.action)
    sentence = words.format(who=who) if words else f"{who} *{escape(event.action).replace('_', ' ')}*"
    return (f"`{event.at.replace('T', ' ').removesuffix('Z')}` {sentence} "
            f"{shown(event.policy_name or '')}: {what}{reason}{extra}")


def history_blocks(db: DatabaseRef, events: list[AuditEvent], policy: str | None) -> list[dict[str, Any]]:
    title = f"*History of {db}*" + (f" · {fit(escape(policy), MAX_NAME_IN_LINE)}" if policy else "")
    if not events:
        return to_dicts([section(f"{title}\nNothing recorded yet.")])
    entries, left_out = packed([history_line(e) for e in events], room=MAX_BLOCKS - 3)
    blocks: list[Block] = [section(title), *entries]
    if left_out:
        blocks.append(not_shown(left_out))
    blocks.append(context("Times are UTC; newest first. `backup-bot audit export` has the full trail."))
    return to_dicts(blocks)


MAX_PENDING_SHOWN = 15  # each takes up to three blocks: a message holds 50


def pending_blocks(requests: list[ChangeRequest], total: int, user: str) -> list[dict[str, Any]]:
    """The oldest of the `total` open requests `user` can act on."""
    if not requests:
        return to_dicts([section("No open requests you can act on.")])
    blocks: list[Block] = [section(f"*Open requests you can act on* ({total})")]
    for request in requests[:MAX_PENDING_SHOWN]:
        changes = changes_text_between(BackupPolicy.model_validate(request.before), after_values(request))
        blocks += packed([f"{request_headline(request)} (in <#{request.channel}>)", changes], room=2)[0]
        buttons = [ButtonElement(text="Cancel", action_id=CANCEL, value=request.id)] if request.requester == user \
            else [ButtonElement(text="Approve", action_id=APPROVE, value=request.id, style="primary"),
                  reject_button(request)]
        blocks.append(ActionsBlock(elements=buttons))
    if total > len(requests[:MAX_PENDING_SHOWN]):
        blocks.append(not_shown(total - len(requests[:MAX_PENDING_SHOWN])))
    return to_dicts(blocks)


# --- the edit modal ------------------------------------------------------------------------------------

EDIT, EDIT_FORM, EDIT_CONFIRM = "policy_edit", "policy_edit_form", "policy_edit_confirm"
UNIT_LABELS = {"hour": "hours", "day": "days", "week": "weeks", "month": "months", "year": "years"}


def option(text: str, value: str) -> Option:
    return Option(text=text, value=value)


def _select(block_id: str, label: str, options: list[Option], initial: str | None, dispatch: bool = False,
            optional: bool = False, hint: str | None = None) -> InputBlock:
    chosen = next((o for o in options if o.value == initial), None)
    return InputBlock(block_id=block_id, label=label, optional=optional, dispatch_action=dispatch, hint=hint,
                      element=StaticSelectElement(action_id=block_id, options=options, initial_option=chosen,
                                                  placeholder="Choose"))


def _number(block_id: str, label: str, initial: int | None) -> InputBlock:
    return InputBlock(block_id=block_id, label=label, element=NumberInputElement(
        action_id=block_id, is_decimal_allowed=False, min_value="1",
        initial_value=str(initial) if initial is not None else None))


def edit_form_view(db: DatabaseRef, values: dict[str, Any], metadata: str, notice: str | None = None) -> dict[str, Any]:
    """The form, pre-filled with `values` (API field names); day and week only where the frequency uses them."""
    unit = values.get("frequency_unit") or "hour"
    units = [option(UNIT_LABELS[u], u) for u in ("hour", "day", "week", "month", "year")]
    form: list[Block] = []
    if notice and notice.strip():
        form.append(section(notice))
    form += [
        InputBlock(block_id="name", label="Name", element=PlainTextInputElement(
            action_id="name", initial_value=values.get("name"), max_length=255)),
        _select("target", "Target branches", [option("Production", "production"),
                                              option("Development", "development")], values.get("target")),
        _number("retention_value", "Keep backups for", values.get("retention_value")),
        _select("retention_unit", "Retention unit", units, values.get("retention_unit")),
        _number("frequency_value", "Back up every", values.get("frequency_value")),
        _select("frequency_unit", "Frequency unit", units[:4], unit, dispatch=True,
                hint="Weekly and monthly backups also ask for a day."),
        InputBlock(block_id="schedule_time", label="Time (UTC)", hint="24-hour clock, in UTC.",
                   element=TimePickerElement(action_id="schedule_time", initial_time=values.get("schedule_time"),
                                             timezone="UTC")),
    ]
    if unit in ("week", "month"):
        form.append(_select("schedule_day", "Day of the week", [option(d, str(i)) for i, d in enumerate(DAY_NAMES)],
                            None if values.get("schedule_day") is None else str(values["schedule_day"])))
    if unit == "month":
        form.append(_select("schedule_week", "Week of the month",
                            [option(f"{w} week", str(i)) for i, w in enumerate(WEEK_NAMES)],
                            None if values.get("schedule_week") is None else str(values["schedule_week"])))
    form.append(InputBlock(block_id="reason", label="Reason", optional=True, element=PlainTextInputElement(
        action_id="reason", max_length=MAX_REASON_LENGTH,
        placeholder="Why this change? It goes into the audit trail.")))
    form.append(context(f"{db} · only the fields you change are sent to PlanetScale"))
    title = fit(f"Edit {values.get('name') or 'policy'}", MAX_MODAL_TITLE)
    return dict(ModalView(type="modal", callback_id=EDIT_FORM, title=title, submit="Preview", close="Cancel",
                          private_metadata=metadata, blocks=form).to_dict())


def edit_confirm_view(plan: ChangePlan, metadata: str, approvals: int,
                      guardrails: Sequence[str] = ()) -> dict[str, Any]:
    body = ", ".join(f"`{k}`" for k in plan.update.to_api())
    then = (f"It needs {plural(approvals, 'approval')}: a request will be posted in the channel." if approvals
            else "It is applied at once and posted in the channel.")
    return dict(ModalView(
        type="modal", callback_id=EDIT_CONFIRM, title="Confirm the change",
        submit="Request approval" if approvals else "Apply",
        close="Back", private_metadata=metadata, blocks=[
            section(f"*{escape(plan.before.name)}* of *{plan.db}*"),
            section(changes_text_between(plan.before, plan.after_values)),
            section(f"*After:* {describe_schedule(plan.after_values)}"),
            section(guardrails_text(guardrails)),
            context(f"Sends {body}. {then}"),
        ]).to_dict())


def message_view(title: str, text: str) -> dict[str, Any]:
    return dict(ModalView(type="modal", title=fit(title, MAX_MODAL_TITLE), close="Close",
                          blocks=[section(text)]).to_dict())


def loading_view() -> dict[str, Any]:
    return message_view("Edit backup policy", ":hourglass_flowing_sand: Reading the policy from PlanetScale…")


def edit_button(db: DatabaseRef, policy_id: str) -> ButtonElement:
    return ButtonElement(text="Edit", action_id=EDIT, value=f"{db}/{policy_id}")


# --- backup health ---------------------------------------------------------------------------------

def size_text(size: int) -> str:
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{size} B"  # pragma: no cover


def health_line(health: PolicyHealth) -> str:
    """One policy's backups in a few lines: last success, recent failures, next run, and what is wrong."""
    policy = health.policy
    mark = ":white_check_mark:" if health.healthy else ":warning:"
    head = f"{mark} *{fit(escape(policy.name), MAX_NAME_IN_LINE)}* `{fit(escape(policy.id), 100)}` ({policy.target})"
    last = health.last_success
    lines = [head, f"*Last success:* {when(last.completed_at or last.created_at)}, {size_text(last.size)}, "
                   f"kept until {when(last.expires_at)}" if last else "*Last success:* none found"]
    failures = len(health.failures)
    lines.append(f"*Failures in 7 days:* {failures}" + (f" (last {when(health.failures[0].completed_at)})"
                                                        if failures else ""))
    lines.append(f"*Next run:* {when(policy.next_run_at)}")
    if health.problem:
        lines.append(f"*{health.problem.capitalize()}*")
    if health.unread:
        lines.append(f"_Backups of {fit(escape(', '.join(health.unread)), 300)} could not be read._")
    if health.left_out:
        lines.append(f"_Backups of {len(health.left_out)} more {policy.target} branches were not read (the first "
                     f"{len(health.branches)} only): {fit(escape(', '.join(health.left_out)), 200)}._")
    if not health.branches:
        lines.append(f"_The database has no {policy.target} branch._")
    return "\n".join(lines)


def status_blocks(db: DatabaseRef, healths: Sequence[PolicyHealth], hidden: int = 0) -> list[dict[str, Any]]:
    not_yours = f" ({hidden} more with targets you may not see)" if hidden else ""
    if not healths:
        return to_dicts([section(f"*{db}* has no backup policies you may see{not_yours}.")])
    troubled = sum(1 for h in healths if not h.healthy)
    summary = f"{troubled} need{'s' if troubled == 1 else ''} attention" if troubled else "all healthy"
    listing, left_out = packed([health_line(h) for h in healths], room=MAX_BLOCKS - 3)
    blocks: list[Block] = [section(f"*Backup status of {db}*: {len(healths)} polic"
                                   f"{'y' if len(healths) == 1 else 'ies'}, {summary}{not_yours}"), *listing]
    if left_out:
        blocks.append(not_shown(left_out))
    blocks.append(context("Stale: no successful backup for longer than the policy's frequency times the bot's "
                          "stale factor. Failures count over the last 7 days."))
    return to_dicts(blocks)
