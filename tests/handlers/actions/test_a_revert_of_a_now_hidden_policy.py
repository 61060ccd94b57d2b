"""A Revert clicked on a change to a policy that has moved since to a target the clicker may read in no channel,
through Bolt's real pipeline on SQLite and PostgreSQL: answered as if the policy were gone, judged and refused as
any change, nothing sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from approval_helpers import BOB, approvals_bot
from conftest import Bot
from test_one_judge import MOVE_RULES

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.blocks import REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV, RANDOM = "bp03devday", "C0RANDOM01"
# MOVE_RULES: production only in #db-ops, by alice with carol's approval; development anywhere, at once, by alice
# or bob: bob may read production policies in no channel.


def changed(bot: Bot, command: str) -> SlackEvent:
    """bob's change, applied at once in #random: its message as last shown, with its Revert button."""
    bot.command(command, user=BOB, channel=RANDOM)
    assert bot.executor.wait_idle(60)
    applied = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None and e.channel == RANDOM][-1]
    return [e for e in bot.slack.events if e.ts == applied.ts and e.kind in ("message", "update")][-1]


def revert_told(bot: Bot, planetscale: PlanetScaleState, shown: SlackEvent, policy_id: str) -> str:
    """bob clicks Revert on his change's message: everything he is told, the policy's ID as ID."""
    button: Any = next(e for b in shown.blocks for e in b.get("elements", []) if e.get("action_id") == REVERT)
    before, sent = len(bot.slack.events), len(planetscale.calls("PATCH")) + len(planetscale.calls("DELETE"))
    reply = bot.click(REVERT, button["value"], user=BOB, message=shown, channel=RANDOM)
    assert bot.executor.wait_idle(60)
    assert len(planetscale.calls("PATCH")) + len(planetscale.calls("DELETE")) == sent, "a revert was sent"
    said = reply.all_text() + " ".join(e.text + json.dumps(e.blocks) + json.dumps(e.view or {})
                                       for e in bot.slack.events[before:])
    return said.replace(policy_id, "ID")


def id_of(planetscale: PlanetScaleState, name: str) -> str:
    [policy_id] = [i for i, p in planetscale.policies[("acme", "app-db")].items() if p["name"] == name]
    return policy_id


@pytest.mark.parametrize("command", [
    "update acme/app-db {id} retention=9d",
    'create acme/app-db name="{name}" target=development retention=7d frequency=1d at=02:00',
])
def test_a_revert_of_a_policy_moved_out_of_sight_is_answered_as_for_one_gone(
    approvals_bot: Bot, planetscale: PlanetScaleState, command: str
) -> None:
    """bob's revert of his own change to a development policy that moved since to production (which his rules let
    him read in no channel) answered “No rule allows production policies of acme/app-db to be handled in this
    channel: use #db-ops”: it told him where the policy went. It is now answered as for his change's policy
    deleted since; judged and refused all the same (on the record), nothing sent."""
    approvals_bot.use_rules(MOVE_RULES)
    planetscale.add_policy("acme", "app-db", "bpdevtwo01", name="Dev two", target="development")
    names = ("Development daily", "Dev two") if "{id}" in command else ("Bob one", "Bob two")
    first = changed(approvals_bot, command.format(id=DEV, name=names[0]))
    second = changed(approvals_bot, command.format(id="bpdevtwo01", name=names[1]))
    moving, going = id_of(planetscale, names[0]), id_of(planetscale, names[1])
    planetscale.policies[("acme", "app-db")][moving]["target"] = "production"
    del planetscale.policies[("acme", "app-db")][going]
    moved = revert_told(approvals_bot, planetscale, first, moving)
    gone = revert_told(approvals_bot, planetscale, second, going)
    assert moved == gone, (moved, gone)
    assert "production" not in moved and "DBAOPS" not in moved, moved
    refused = [e for e in approvals_bot.audit.all() if e.action == "refused" and e.actor == BOB]
    assert [(e.before or {}).get("target") for e in refused] == ["production"]
