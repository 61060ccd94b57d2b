"""Answers to the caller about policies: help, a database's list, one policy in full, a dry run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
)

from bot.domain.access import Capability
from bot.domain.change_requests import ChangeKind
from bot.domain.changes import ChangePlan
from bot.domain.commands import DatabaseRef
from bot.domain.grammar import EXAMPLES, UPDATE_KEYS_HELP, USAGE_LINES
from bot.domain.policy import (
    BackupPolicy,
    describe_day,
    describe_week,
)
from handlers.blocks.buttons import edit_button
from handlers.blocks.costs import estimate_text
from handlers.blocks.kit import (
    MAX_BLOCKS,
    MAX_VALUE_SHOWN,
    changes_text_between,
    context,
    escape,
    fit,
    guardrails_text,
    header,
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
from handlers.blocks.mentions import slack_text


def policy_line(policy: BackupPolicy) -> str:
    flags = " · required" if policy.required else ""
    return (f"• *{literal(policy.name)}* (`{escape(policy.id)}`, {policy.target}{flags}): "
            f"{schedule_text(policy)}")




READ_SUBCOMMANDS = ("help", "list", "show", "history", "pending", "status", "export")


def help_blocks(command: str, capabilities: list[Capability], unchecked: str | None = None) -> list[dict[str, Any]]:
    """Usage with examples, limited to what this caller may do (`capabilities` from the access rules);
    `unchecked`: why the rules that name them only through a group could not be checked (left out)."""
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
    if unchecked is not None:
        rights += f"\n• Rules naming you only through a user group could not be checked: {escape(unchecked)}."
    result: list[Block] = [header("Backup policies from Slack"), section(usage),
                           section(f"*What you may do here*\n{rights}")]
    if may_change:
        keys = "\n".join(f"`{k}`  {escape(v)}" for k, v in UPDATE_KEYS_HELP)
        result.append(section(f"*Keys for update*\n{keys}\nThe API's own field names work too "
                              "(`retention_value=7`, `schedule_week=0`). Add `reason=\"…\"` to say why, `--dry-run` "
                              "to preview."))
    examples = "\n".join(f"`{escape(e.replace('/backup-policy', command, 1))}`" for e in EXAMPLES
                         if may_change or e.split()[1] in READ_SUBCOMMANDS)
    result.append(section(f"*Examples*\n{examples}"))
    return to_dicts(result)


def policy_list_blocks(db: DatabaseRef, policies: list[BackupPolicy], unreadable: int = 0,
                       why: str = "") -> list[dict[str, Any]]:
    """`policies`: those the caller may see; a hidden one is as if absent, not even counted."""
    not_yours = f" ({unreadable} more not shown: {slack_text(why)})" if unreadable else ""
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
        ("Schedule", schedule_text(policy)),
        ("Target", policy.target + (" (a required system policy)" if policy.required else "")),
        ("Time", f"{escape(policy.schedule_time)} UTC"),
    ]
    if policy.schedule_day is not None:
        rows.append(("Day", describe_day(policy.schedule_day)))
    if policy.schedule_week is not None:
        rows.append(("Week", describe_week(policy.schedule_week)))
    rows += [("Next run", when(policy.next_run_at)), ("Last ran", when(policy.last_ran_at)
                                                       if policy.last_ran_at else "never")]
    return "\n".join(f"*{label}:* {value}" for label, value in rows)


def policy_detail_blocks(db: DatabaseRef, policy: BackupPolicy, editable: bool) -> list[dict[str, Any]]:
    """`editable`: the reader may ask for a change to it here; no Edit button offers what would be refused."""
    # An ID no path holds can take no change, and may be past the 2,000 characters a button's value carries.
    edit = [ActionsBlock(elements=[edit_button(db, policy.id)])] if policy.sendable and editable else []
    cannot = "" if policy.sendable else " · its ID is not one PlanetScale's paths hold: the bot cannot change it"
    return to_dicts([
        header(policy.name if policy.name.strip() else policy.id),
        section(policy_fields(policy)),
        *edit,
        context(f"{db} · ID `{fit(escape(policy.id), 1000)}` · updated {when(policy.updated_at)}{cannot}"),
    ])


def dry_run_blocks(plan: ChangePlan, approvals: int = 0, guardrails: Sequence[str] = ()) -> list[dict[str, Any]]:
    body = ", ".join(f"`{k}={fit(escape(str(v)), MAX_VALUE_SHOWN)}`" for k, v in plan.update.to_api().items())
    what = {ChangeKind.UPDATE: "The change to", ChangeKind.CREATE: "The new policy", ChangeKind.DELETE:
            "Deleting"}[plan.kind]
    sent = {ChangeKind.UPDATE: f"`PATCH` with {body}", ChangeKind.CREATE: f"`POST` with {body}",
            ChangeKind.DELETE: f"`DELETE` of `{escape(plan.before.id)}`"}[plan.kind]
    return to_dicts([
        section(f":mag: *Dry run*: nothing was sent. {what} *{literal(plan.before.name)}* of *{plan.db}* would be:"),
        section(lifecycle_text(plan.kind, plan.before) if plan.kind is not ChangeKind.UPDATE
                else changes_text_between(plan.before, plan.after_values)),
        *([] if plan.kind is ChangeKind.DELETE else [section(f"*After:* {schedule_text(plan.after_values)}")]),
        section(estimate_text(plan.estimate)),
        section(guardrails_text(guardrails)),
        context(f"Would send {sent}. Run it again without `--dry-run` to "
                + (f"ask for the {plural(approvals, 'approval')} it needs." if approvals else "apply.")),
    ])
