"""What a change costs, in words: the backups a policy keeps at once and their estimated storage, before → after
(the numbers come from bot/domain/costs.py)."""

from __future__ import annotations

from bot.domain.costs import Basis, Estimate, Side, describe_cost, describe_size, kept_at_once, kept_cost, unread_words
from bot.domain.policy import BackupPolicy
from handlers.blocks.mentions import slack_text


def _kept(side: Side | None) -> str:
    if side is None:
        return "none"
    return f"{side.kept} backup{'s' if side.kept != 1 else ''}"


def _storage(side: Side | None) -> str:
    if side is None:
        return "nothing"
    return describe_size(side.storage) if side.storage is not None else "not estimated"


def estimate_text(estimate: Estimate) -> str:
    """Two lines: kept at once, and storage (with PlanetScale's estimated cost when it gives one)."""
    before, after = estimate.before, estimate.after
    lines = [f"*Kept at once:* {_kept(before)} → {_kept(after)}"]
    storage = f"*Estimated storage:* {_storage(before)} → {_storage(after)}"
    known = [s for s in (before, after) if s is not None]
    if any(s.storage is None for s in known):
        storage += (f" (its backups {unread_words(estimate.unread)}: {slack_text(estimate.unread)})"
                    if estimate.unread
                    else " (no successful backup to estimate from yet)")
    else:
        storage += " (from the latest successful backup of each branch)"
    if known and all(s.cost is not None for s in known):
        cost = " → ".join("0" if s is None or s.cost is None else describe_cost(s.cost)
                           for s in (before, after))
        storage += f"\n*PlanetScale's estimated storage cost:* {cost}"
    return "\n".join([*lines, storage])


def policy_estimate(policy: BackupPolicy, basis: Basis | None, of_target: bool = False,
                    unread: str | None = None) -> str:
    """One policy's estimate, for `status`; `of_target`: from its target's latest successes (none of its own)."""
    kept = kept_at_once(policy.model_dump())
    text = f"*Estimate:* {kept} backup{'s' if kept != 1 else ''} kept at once"
    if basis is None:
        if unread:
            return text + (f", storage not estimated (its target's backups {unread_words(unread)}: "
                           f"{slack_text(unread)})")
        return text + ", storage not estimated (no successful backup yet)"
    text += f", about {describe_size(kept * basis.size)}"
    cost = kept_cost(kept, basis)
    if cost is not None:
        text += f" (PlanetScale's estimated storage cost {describe_cost(cost)})"
    if of_target:
        text += ", from its target's latest successful backups: it has none of its own yet"
    return text
