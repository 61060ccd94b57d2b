"""`status`: whether each policy's backups succeed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
)

from bot.domain.backup_health import MAX_STATUS_REQUESTS
from bot.domain.backups import PolicyHealth, describe_span
from bot.domain.commands import DatabaseRef
from bot.domain.costs import describe_size
from handlers.blocks.costs import policy_estimate
from handlers.blocks.kit import (
    MAX_BLOCKS,
    MAX_NAME_IN_LINE,
    context,
    escape,
    fit,
    literal,
    not_shown,
    packed,
    section,
    to_dicts,
    when,
)
from handlers.blocks.mentions import slack_text


def size_text(size: int) -> str:
    return describe_size(size)


def _branches(names: Sequence[str], limit: int) -> str:
    """Branch names PlanetScale returned, each shown as written (never markup or a link)."""
    return fit(", ".join(literal(name, limit) for name in names), limit)


def health_line(health: PolicyHealth) -> str:
    """One policy's backups in a few lines: last success, recent failures, next run, and what is wrong."""
    policy = health.policy
    mark = ":warning:" if health.needs_attention else ":white_check_mark:"
    head = f"{mark} *{literal(policy.name, MAX_NAME_IN_LINE)}* `{fit(escape(policy.id), 100)}` ({policy.target})"
    last = health.last_success
    lines = [head, f"*Last success:* {when(last.completed_at or last.created_at)}, {size_text(last.size)}, "
                   f"kept until {when(last.expires_at)}" if last else "*Last success:* none found"]
    failures = len(health.failures)
    lines.append(f"*Failures in 7 days:* {failures}" + (f" (last {when(health.failures[0].completed_at)})"
                                                        if failures else ""))
    lines.append(f"*Next run:* {when(policy.next_run_at)}")
    lines.append(policy_estimate(policy, health.basis, health.basis_of_target, health.target_unread))
    if health.problem:
        lines.append(f"*{health.problem.capitalize()}*")
    elif health.grace:
        # Not stale only for its change's span: a change is no backup, so the person is not told all is well.
        lines.append(f"*No successful backup within {describe_span(health.stale_after)} before it changed:* stale "
                     "again unless one comes within that span of the change")
    if health.unread:
        lines.append(f"_Backups of {_branches(health.unread, 300)} could not be read._")
    if health.left_out:
        counted = "; its estimate counts every branch" if health.basis is not None else ""
        lines.append(f"_Backups of {len(health.left_out)} more {policy.target} branches were not read for its "
                     f"health (the first {len(health.branches)} only): "
                     f"{_branches(health.left_out, 200)}{counted}._")
    if not health.branches:
        lines.append(f"_The database has no {policy.target} branch._")
    return "\n".join(lines)


def status_blocks(db: DatabaseRef, healths: Sequence[PolicyHealth], not_read: int = 0, unreadable: int = 0,
                  why: str = "", spent: int = 0) -> list[dict[str, Any]]:
    """`healths`: of the policies the caller may see (a hidden one is as if absent, not even counted);
    `not_read`: policies past the first MAX_POLICIES_READ, whose backups were not read; `unreadable`: policies
    PlanetScale listed in a shape this bot cannot read; `spent`: policies left unread once the command's requests
    to PlanetScale were spent."""
    not_yours = f" ({unreadable} more not judged: {slack_text(why)})" if unreadable else ""
    if spent:
        not_yours += (f" ({spent} more not read: status makes at most {MAX_STATUS_REQUESTS} requests to PlanetScale "
                      "for one command, to keep within its request budget, and these were past them)")
    if not_read:
        not_yours += f" ({not_read} more not read: status reads the first {len(healths) + spent} of a database's " \
                     "policies)"
    if not healths:
        shown = f"*Backup status of {db}*: no policy judged" if spent else \
            f"*{db}* has no backup policies you may see"
        return to_dicts([section(f"{shown}{not_yours}.")])
    troubled = sum(1 for h in healths if h.needs_attention)
    summary = f"{troubled} need{'s' if troubled == 1 else ''} attention" if troubled else "all healthy"
    listing, left_out = packed([health_line(h) for h in healths], room=MAX_BLOCKS - 3)
    blocks: list[Block] = [section(f"*Backup status of {db}*: {len(healths)} polic"
                                   f"{'y' if len(healths) == 1 else 'ies'}, {summary}{not_yours}"), *listing]
    if left_out:
        blocks.append(not_shown(left_out))
    blocks.append(context("Stale: no successful backup for longer than the policy's frequency times the bot's "
                          "stale factor. Failures count over the last 7 days."))
    return to_dicts(blocks)
