"""A database's or a policy's history, from the audit trail, as people say it."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from slack_sdk.models.blocks import (
    Block,
)

from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeKind
from bot.domain.commands import DatabaseRef
from bot.domain.lifecycle import SENDING, UNSENT
from bot.domain.policy import (
    BackupPolicy,
    PolicyUpdate,
    describe_changes,
    describe_schedule,
    resulting_values,
)
from bot.domain.watch_state import WATCH_ACTOR
from handlers.blocks.kit import (
    MAX_BLOCKS,
    MAX_NAME_IN_LINE,
    context,
    escape,
    fit,
    literal,
    not_shown,
    packed,
    plural,
    section,
    to_dicts,
)
from handlers.blocks.mentions import with_mentions

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
    "backup_unhealthy": "the watch found backups failing for",
    "backup_recovered": "the watch found backups healthy again for",
}
# The same entries about a request that creates or deletes a policy.
LIFECYCLE_WORDS = {
    ChangeKind.CREATE: {"requested": "{who} asked to create", "approved": "{who} approved the creation of",
                        "applied": "{who} created", "rejected": "{who} rejected the creation of",
                        "cancelled": "{who} cancelled the creation of", "dry_run": "{who} previewed a new policy"},
    ChangeKind.DELETE: {"requested": "{who} asked to delete", "approved": "{who} approved the deletion of",
                        "applied": "{who} deleted", "rejected": "{who} rejected the deletion of",
                        "cancelled": "{who} cancelled the deletion of", "dry_run": "{who} previewed the deletion of"},
}
# Entries the bot writes for itself (a change on its way to PlanetScale, or kept from it): their outcome has its
# own entry.
INTERNAL_ACTIONS = frozenset({SENDING, UNSENT})
# "needs 2 approval(s)" as entries of the trail write it: said as people say it.
COUNTED = re.compile(r"\b([0-9]+) ([a-z]+)\(s\)")

log = logging.getLogger(__name__)


def history_line(event: AuditEvent) -> str:
    """An entry in words; one whose values no policy holds (damaged in the database) is said without them, so
    that it hides no other entry."""
    try:
        return _line(event)
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("audit entry of %s (%s) holds values no policy has; shown without them", event.at, event.action,
                    exc_info=True)
        return _line(replace(event, before=None, after=None, sent=None)) + " (its values could not be read)"


def _line(event: AuditEvent) -> str:
    def shown(name: str) -> str:
        return literal(name, MAX_NAME_IN_LINE)

    what = ""
    lifecycle = lifecycle_of(event)
    if lifecycle is not None and event.before:
        what = f"{fit(escape(describe_schedule(event.before)), MAX_NAME_IN_LINE)} ({event.before.get('target')})"
    elif event.before and event.sent:
        before = BackupPolicy.model_validate(event.before)
        what = "; ".join(f"{c.label} {shown(c.before)} → {shown(c.after)}" for c in
                         describe_changes(before, resulting_values(before, PolicyUpdate(**event.sent))))
    detail = COUNTED.sub(lambda m: plural(int(m.group(1)), m.group(2)), event.detail or "")
    extra = f" ({fit(with_mentions(detail), 400)})" if detail else ""
    reason = f" — “{fit(escape(event.reason), 300)}”" if event.reason and event.action == "requested" else ""
    who = ("someone outside the bot" if event.actor == WATCH_ACTOR else "the bot" if event.actor == "backup-bot"
           else f"<@{event.actor}>")
    words = (LIFECYCLE_WORDS[lifecycle].get(event.action) if lifecycle is not None else None) or \
        HISTORY_WORDS.get(event.action)
    if lifecycle is not None and event.action == "dry_run":
        extra = ""  # the words say it
    sentence = words.format(who=who) if words else f"{who} *{escape(event.action).replace('_', ' ')}*"
    return (f"`{event.at.replace('T', ' ').removesuffix('Z')}` {sentence} "
            f"{shown(event.policy_name or '')}: {what}{reason}{extra}")


def lifecycle_of(event: AuditEvent) -> ChangeKind | None:
    """CREATE or DELETE for an entry about a request that creates or deletes a policy: a creation's `before`
    is the policy as it would be made, with no ID yet; a deletion sends no field."""
    if (not event.before or event.action not in LIFECYCLE_WORDS[ChangeKind.CREATE]
            or not event.before.keys() >= POLICY_IN_WORDS):
        return None
    if event.before.get("id") == "":
        return ChangeKind.CREATE
    return ChangeKind.DELETE if event.sent == {} else None


# What a policy needs to be said in words (describe_schedule).
POLICY_IN_WORDS = frozenset({"target", "retention_value", "retention_unit", "frequency_value", "frequency_unit",
                             "schedule_time"})


def history_blocks(db: DatabaseRef, events: list[AuditEvent], policy: str | None,
                   searched: int | None = None) -> list[dict[str, Any]]:
    """`searched`: how many of the newest entries were read when older ones were left unread."""
    title = f"*History of {db}*" + (f" · {literal(policy, MAX_NAME_IN_LINE)}" if policy else "")
    if not events:
        if searched:
            return to_dicts([section(f"{title}\nNothing you may see here among its newest {searched:,} entries: "
                                     "`backup-bot audit export` has the full trail.")])
        return to_dicts([section(f"{title}\nNothing recorded yet.")])
    entries, left_out = packed([history_line(e) for e in events], room=MAX_BLOCKS - 3)
    blocks: list[Block] = [section(title), *entries]
    if left_out:
        blocks.append(not_shown(left_out))
    blocks.append(context("Times are UTC; newest first. `backup-bot audit export` has the full trail."))
    return to_dicts(blocks)
