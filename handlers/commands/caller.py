"""Who typed a `/backup-policy` command, and the read gate (bot/domain/read_gate.py) answered to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.domain import read_gate
from bot.domain.commands import DatabaseRef
from bot.domain.outcomes import Outcome, OutcomeKind, explain
from bot.domain.policy import BackupPolicy
from handlers import blocks
from handlers.dependencies import Dependencies
from handlers.posting import say_privately


@dataclass(frozen=True)
class Caller:
    """Who typed the command, where, and how to answer them."""

    user: str
    channel: str
    command: str
    respond: Respond
    client: WebClient

    def say(self, text: str, result_blocks: list[dict[str, Any]] | None = None) -> None:
        say_privately(self.respond, text, result_blocks)

    def warn(self, message: str) -> None:
        say_privately(self.respond, blocks.error_text(message))


def may_read(deps: Dependencies, db: DatabaseRef, caller: Caller) -> bool:
    """Before anything is read from PlanetScale: is this person named by a rule for this database, here?"""
    reason = read_gate.refusal(deps.access, deps.store, caller.user, caller.channel, db)
    if reason is not None:
        caller.warn(reason)
    return reason is None


def readable_targets(deps: Dependencies, db: DatabaseRef, caller: Caller) -> set[str]:
    return read_gate.readable_targets(deps.access, caller.user, caller.channel, db)


def refuse(deps: Dependencies, db: DatabaseRef, caller: Caller, reason: str, policy_id: str | None = None,
           hidden: tuple[read_gate.Lookup, BackupPolicy] | None = None) -> None:
    """Recorded, and told; about the policy `hidden` names, as the lookup of a reference nobody holds when the
    caller's rules let them read it in no channel."""
    read_gate.record_refusal(deps.store, caller.user, caller.channel, db, reason, policy_id)
    if hidden is not None:
        lookup, policy = hidden
        reason = read_gate.as_told(deps.access, deps.policies, caller.user, caller.channel, lookup, policy,
                                   Outcome(OutcomeKind.REFUSED, reason)).message
    caller.warn(reason)


def read_failed(deps: Dependencies, db: DatabaseRef, caller: Caller, what: str, exc: Exception) -> None:
    """A failed read is answered and, when PlanetScale failed, put on the record too."""
    read_gate.record_failed_read(deps.store, caller.user, caller.channel, db, what, exc)
    caller.warn(explain(exc))
