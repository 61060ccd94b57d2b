"""Where a pending bulk change's approvals stand, rule by rule. Each policy counts its approvals under its own
rules, so a batch over databases with different approvers is approved for one side only until the other side's
approvers approve too: its standing is told per group of policies judged alike, never as one number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.batches import Planned
from bot.domain.judge import Verdict, VerdictKind
from bot.domain.lifecycle import bulk_wait_words
from bot.domain.outcomes import owed_text
from bot.domain.ports import PlanetScaleError


@dataclass(frozen=True)
class Standing:
    """The policies of a pending batch whose rules judge its approvals alike, and where those stand."""

    databases: tuple[str, ...]
    policies: int
    needed: int
    counted: tuple[str, ...]  # the approvals that count for them
    missing: int
    owed: tuple[tuple[str, int], ...]  # what groups still owe them
    approvers: tuple[str, ...]  # who may approve them, as the rules write them
    rejected_by: str | None = None  # an approver of theirs rejected them: they are out of the change


def standings(planned: Sequence[Planned], changes: dict[str, Any],
              judge: Callable[[Planned], Verdict]) -> list[Standing] | None:
    """Each group of policies judged alike, those still missing approvals first; None when some policy cannot
    be judged now. A policy the rules now refuse is left out: it is refused when the batch applies."""
    verdicts: dict[tuple[str, str, str, str], Verdict] = {}
    grouped: dict[tuple[Any, ...], list[Planned]] = {}
    rejected: dict[str, list[Planned]] = {}
    for p in planned:
        if p.rejected_by is not None:
            rejected.setdefault(p.rejected_by, []).append(p)
            continue
        # The rules match a database and its targets: one policy of each such place judges them all. Not so for a
        # move: a floor judges each on the policies the moves before it leave (bulk_judging.ahead).
        target = str(p.before.get("target"))
        place = (p.database, target, str(changes.get("target", target)),
                 p.policy_id if changes.get("target", target) != target else "")
        if place not in verdicts:
            verdicts[place] = judge(p)
        verdict = verdicts[place]
        if verdict.kind is VerdictKind.CANNOT_TELL:
            return None
        if verdict.kind is VerdictKind.REFUSE:
            continue
        key = (verdict.needed, verdict.counted, verdict.missing, verdict.owed, verdict.approvers)
        grouped.setdefault(key, []).append(p)
    found = [Standing(tuple(dict.fromkeys(p.database for p in members)), len(members), needed, counted, missing,
                      owed, approvers)
             for (needed, counted, missing, owed, approvers), members in grouped.items()]
    found += [Standing(tuple(dict.fromkeys(p.database for p in members)), len(members), 0, (), 0, (), (), by)
              for by, members in rejected.items()]
    return sorted(found, key=lambda s: -s.missing)


def owed_words(waiting: Sequence[Verdict]) -> str:
    """What the policies still waiting owe, told by the one that owes most."""
    most = max(waiting, key=lambda v: v.missing)
    owed = f" ({owed_text(most.owed)})" if most.owed else ""
    return (f"{most.missing} more approval{'s' if most.missing != 1 else ''}{owed} still needed for "
            f"{len(waiting)} of its policies.")


def later_words(passing: PlanetScaleError | None, tries: float) -> str:
    """Why a bulk change's policy waits on PlanetScale, and what happens next (tried `tries` seconds after its
    approval at most); nothing when it does not."""
    if passing is None:
        return ""
    return (f"; waiting on PlanetScale, which could not be read for it ({passing.user_message}): "
            f"{bulk_wait_words(tries)}")


def held_words(rate_limited: bool, tries: float) -> str:
    """Why a bulk change's policy was not sent at its approval after another's PATCH met a rate limit (or no answer
    at all), and what happens next."""
    why = "PlanetScale is rate limiting the bot's token (429)" if rate_limited else \
        "PlanetScale gave another policy's call no answer at all (connection refused or timed out)"
    return f"; not sent at the approval, waiting on PlanetScale: {why}; {bulk_wait_words(tries)}"
