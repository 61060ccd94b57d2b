"""A bulk change's request shows what a single request shows as "Worth a second look" (a move of target, a
required policy, shorter retention, a database left with no production policy): counted per kind with the first
few named in its message, and on each policy's line in its thread, within Slack's limits however many. Through
Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, approvals_bot
from bulk_helpers import channel_messages
from conftest import Bot
from test_bulk import add_databases, thread

from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_shorter_retention_and_a_required_policy_are_worth_a_second_look(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "short", 3)
    planetscale.policies[("acme", dbs[1])][f"{dbs[1]}-prod"]["required"] = True
    approvals_bot.command("update acme/short-* * --where target=production retention=1d", user=ALICE)
    [message] = channel_messages(approvals_bot)
    said = json.dumps(message.blocks, ensure_ascii=False)
    assert "Worth a second look" in said, said
    assert "keeps backups for less time: 3 policies" in said, said
    assert f"a required system policy: 1 policy (`{dbs[1]}` *Production daily*)" in said, said
    listed = thread(approvals_bot, message)
    assert listed.count("keeps backups for less time") == 3, listed
    assert listed.count("a required system policy") == 1, listed


def test_a_move_leaving_databases_with_no_production_policy_is_worth_a_second_look(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "move", 2)
    approvals_bot.command('update acme/move-* "Production daily" target=development', user=ALICE)
    [message] = channel_messages(approvals_bot)
    said = json.dumps(message.blocks, ensure_ascii=False)
    assert "moves the policy from production to development: 2 policies" in said, said
    assert "leaves its database with no production policy: 2 policies" in said, said
    assert f"`{dbs[0]}`" in said and f"`{dbs[1]}`" in said, said
    listed = thread(approvals_bot, message)
    assert f"leaves {dbs[0]} with no production policy" in listed, listed


def test_forty_policies_worth_a_second_look_are_counted_and_the_first_few_named(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "many-" + "x" * 40, 40)
    approvals_bot.command(f"update acme/many-{'x' * 40}-* * --where target=production retention=1d", user=ALICE)
    [message] = channel_messages(approvals_bot)
    said = json.dumps(message.blocks, ensure_ascii=False)
    assert "keeps backups for less time: 40 policies" in said and "and 37 more" in said, said
    assert f"`{dbs[0]}`" in said and f"`{dbs[39]}`" not in said.split("Worth a second look")[1], said
    assert len(message.blocks) <= 50 and all(len(json.dumps(b)) < 3100 for b in message.blocks)
    assert thread(approvals_bot, message).count("keeps backups for less time") == 40
