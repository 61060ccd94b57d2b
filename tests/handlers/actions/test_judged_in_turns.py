"""The sweep judges pending requests with an approval again in turns: a few per sweep, the longest due first, each
again a while after its turn; so a sweep's work stays the same however many requests wait while nothing changes
(issue 23), and each is still judged again against the rules as they are."""

from __future__ import annotations

import time

import pytest
from approval_helpers import CAROL, RULES, approvals_bot, request_id, sweep
from conftest import Bot

from bot.domain import deciding
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS
from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

NAMES = ("turn-1", "turn-2", "turn-3")


def retention(planetscale: PlanetScaleState, name: str) -> int:
    return int(planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"])


def test_waiting_requests_are_judged_again_in_turns_once_the_rules_ask_fewer(
    approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three requests, each approved once of the two the rules ask; the rules then ask one. A sweep soon after
    judges none of them again (each was judged at its approval, under rules that may change unseen: its turn
    comes later); once their turns are due, a sweep judges two (the most it may), the oldest first, and the next
    sweep the third."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    monkeypatch.setattr(deciding, "JUDGED_PER_SWEEP", 2)
    approvals_bot.use_rules(RULES.format(approvals=2))
    for name in NAMES:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
        approvals_bot.command(f'update acme/{name} "Production daily" retention=14d')
        message = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                   and e.channel in approvals_bot.slack.channels][-1]
        reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
        assert "1 of 2" in " ".join(e.text or "" for e in reply.events), reply.events
        now[0] += 1
    approvals_bot.use_rules(RULES.format(approvals=1))
    now[0] += 120
    sweep(approvals_bot)
    assert planetscale.calls("PATCH") == []
    now[0] += JUDGE_AGAIN_SECONDS
    sweep(approvals_bot)
    assert [retention(planetscale, name) for name in NAMES] == [14, 14, retention(planetscale, NAMES[2])]
    assert len(planetscale.calls("PATCH")) == 2
    sweep(approvals_bot)
    assert [retention(planetscale, name) for name in NAMES] == [14, 14, 14]
