"""A pending change whose policy is renamed and moved, since it was asked, to a target its channel does not handle:
not applied, and neither the target it went to nor the name it holds there is told in that channel (it is
hidden there now, as if absent). Alone and in a bulk change, through Bolt's real pipeline on SQLite and
PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import BOB, DAVE, approvals_bot, request_id
from bulk_helpers import button, channel_messages
from conftest import Bot
from test_a_request_whose_policy_moved_out_of_its_channel import DEV, RANDOM, RULES

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

SECRET = "Payroll ledger nightly"


def hide(planetscale: PlanetScaleState, database: str, policy_id: str) -> None:
    policy = planetscale.policies[("acme", database)][policy_id]
    policy["target"], policy["name"] = "production", SECRET


def said_since(bot: Bot, before: int, reply: object) -> str:
    return reply.all_text() + " ".join(  # type: ignore[attr-defined]
        e.text + json.dumps(e.blocks) for e in bot.slack.events[before:])


def test_a_request_whose_policy_was_renamed_into_a_hidden_target_does_not_name_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Was: “• app-db · Payroll ledger nightly (named “Development daily” when asked): Not applied: the policy
    moved from development to a target not handled in this channel” in #random and to bob."""
    approvals_bot.use_rules(RULES)
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)
    assert approvals_bot.executor.wait_idle(60)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None]
    hide(planetscale, "app-db", DEV)
    before = len(approvals_bot.slack.events)
    reply = approvals_bot.click(APPROVE, request_id(message), user=DAVE, message=message, channel=RANDOM)
    assert approvals_bot.executor.wait_idle(60)
    said = said_since(approvals_bot, before, reply)
    assert "Not applied" in said and "a target not handled in this channel" in said, said
    assert SECRET not in said and "production" not in said, said
    assert not planetscale.calls("PATCH")


def test_a_bulk_policy_renamed_into_a_hidden_target_is_not_named(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES)
    planetscale.add_database("acme", "shop-01")
    planetscale.add_policy("acme", "shop-01", "shop-01-dev", name="Development daily", target="development")
    approvals_bot.command("update acme/* * --where target=development retention=9d", user=BOB, channel=RANDOM)
    assert approvals_bot.executor.wait_idle(60)
    [bulk] = channel_messages(approvals_bot)
    hide(planetscale, "shop-01", "shop-01-dev")
    before = len(approvals_bot.slack.events)
    reply = approvals_bot.click(BULK_APPROVE, button(bulk, BULK_APPROVE), user=DAVE, message=bulk, channel=RANDOM)
    assert approvals_bot.executor.wait_idle(60)
    said = said_since(approvals_bot, before, reply)
    assert "a target not handled in this channel" in said, said
    assert SECRET not in said, said
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == [DEV]


def test_a_creation_whose_name_a_hidden_policy_took_since_does_not_name_that_policy(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Was: “a policy named “Nightly” was made in PlanetScale since the request (`bp-hidden-9`)” in #random and
    to bob: a production policy, handled only in #db-ops, which neither bob nor dave may read anywhere."""
    approvals_bot.use_rules(RULES)
    approvals_bot.command('create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00',
                          user=BOB, channel=RANDOM)
    assert approvals_bot.executor.wait_idle(60)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None]
    planetscale.add_policy("acme", "app-db", "bp-hidden-9", name="Nightly", target="production")
    before = len(approvals_bot.slack.events)
    reply = approvals_bot.click(APPROVE, request_id(message), user=DAVE, message=message, channel=RANDOM)
    assert approvals_bot.executor.wait_idle(60)
    said = said_since(approvals_bot, before, reply)
    assert "Not applied" in said, said
    assert "bp-hidden-9" not in said, said
    assert not planetscale.calls("POST")
