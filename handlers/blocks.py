"""Every Block Kit view the bot sends, built with slack_sdk's models and kept inside Slack's size limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.grammar import EXAMPLES, UPDATE_KEYS_HELP, USAGE_LINES, DatabaseRef
from bot.policy import BackupPolicy, describe_changes, describe_day, describe_schedule, describe_week
from bot.service import AppliedChange, ChangePlan

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150


def escape(text: str) -> str:
    """Slack's three control characters; stops a policy name from becoming a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT)))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, MAX_SECTION_TEXT))])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=clip(text, MAX_HEADER_TEXT))


def to_dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks[:MAX_BLOCKS]]


def when(iso: str | None) -> str:
    """A timestamp that Slack shows in the reader's own time zone, with a UTC fallback."""
    if not iso:
        return "not scheduled"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return escape(iso)
    fallback = moment.strftime("%a %d %b %Y %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def policy_line(policy: BackupPolicy) -> str:
    flags = " · required" if policy.required else ""
    return (f"• *{escape(policy.name)}* (`{escape(policy.id)}`, {policy.target}{flags}): "
            f"{describe_schedule(policy)}")


# --- answers to the caller --------------------------------------------------------------------------


READ_SUBCOMMANDS = ("help", "list", "show", "history", "pending")


def help_blocks(command: str, capabilities: list[str]) -> list[dict[str, Any]]:
    """Usage with examples, limited to what this caller may do (`capabilities` from the access rules)."""
    if not capabilities:
        return to_dicts([
            header("Backup policies from Slack"),
            section("You are not named in any access rule for this channel, so you cannot see or change backup "
                    "policies here. Ask whoever keeps the bot's access file to add you (by Slack user ID or "
                    "user group)."),
        ])
    may_change = any("change" in line for line in capabilities)
    usage = "\n".join(f"`{command} {escape(u)}`  {escape(what)}" for u, what in USAGE_LINES
                      if may_change or u.split()[0] in READ_SUBCOMMANDS)
    rights = "\n".join(f"• {escape(line)}" for line in capabilities)
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
    not_shown = f" ({hidden} more with targets you may not see)" if hidden else ""
    if not policies:
        return to_dicts([section(f"*{db}* has no backup policies you may see{not_shown}.")])
    blocks: list[Block] = [section(f"*Backup policies of {db}* ({len(policies)}){not_shown}")]
    chunk = ""
    shown = 0
    for policy in policies:
        line = policy_line(policy)
        if len(chunk) + len(line) + 1 > MAX_SECTION_TEXT:
            blocks.append(section(chunk))
            chunk = ""
            if len(blocks) >= MAX_BLOCKS - 2:
                break
        chunk += ("\n" if chunk else "") + line
        shown += 1
    if chunk:
        blocks.append(section(chunk))
    if shown < len(policies):
        blocks.append(context(f"…and {len(policies) - shown} more not shown."))
    blocks.append(context(f"`/backup-policy show {db} <ID or name>` for one in full."))
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
        header(policy.name),
        section(policy_fields(policy)),
        context(f"{db} · ID `{escape(policy.id)}` · updated {when(policy.updated_at)}"),
    ])


def changes_text(plan: ChangePlan, after: BackupPolicy | dict[str, Any]) -> str:
    lines = [f"• {c.label}: ~{escape(c.before)}~ → *{escape(c.after)}*" for c in describe_changes(plan.before, after)]
    return "\n".join(lines) or "• no visible change"


def applied_change_blocks(change: AppliedChange, actor: str) -> list[dict[str, Any]]:
    plan, after = change.plan, change.after
    reason = f"\n*Reason:* {escape(plan.reason)}" if plan.reason else ""
    return to_dicts([
        section(f":white_check_mark: <@{actor}> changed the backup policy *{escape(after.name)}* of "
                f"*{plan.db}*{reason}"),
        section(changes_text(plan, after)),
        section(f"*Now:* {describe_schedule(after)} ({after.target})\n*Next run:* {when(after.next_run_at)}"),
        context(f"ID `{escape(after.id)}` · sent {', '.join(f'`{f}`' for f in plan.update.fields())}"),
    ])


def applied_change_text(change: AppliedChange, actor: str) -> str:
    return (f"<@{actor}> changed the backup policy {change.after.name} of {change.plan.db}: "
            f"{describe_schedule(change.after)}")


def dry_run_blocks(plan: ChangePlan, approvals: int = 0) -> list[dict[str, Any]]:
    body = ", ".join(f"`{k}={v}`" for k, v in plan.update.to_api().items())
    return to_dicts([
        section(f":mag: *Dry run*: nothing was sent. The change to *{escape(plan.before.name)}* of "
                f"*{plan.db}* would be:"),
        section(changes_text(plan, plan.after_values)),
        section(f"*After:* {describe_schedule(plan.after_values)}"),
        context(f"Would send `PATCH` with {body}. Run it again without `--dry-run` to "
                + (f"ask for the {approvals} approval(s) it needs." if approvals else "apply.")),
    ])


def divider() -> dict[str, Any]:
    return dict(DividerBlock().to_dict())
