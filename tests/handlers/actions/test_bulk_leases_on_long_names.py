"""Leases on long names, through Bolt's pipeline with the emulators (SQLite and PostgreSQL).

A bulk change reaches databases by the names PlanetScale lists, which its spec does not bound. A name that is
not a path segment the bot sends (letters, digits, `-`, `_`, at most 128) is refused before anything is claimed,
read or sent, so an organization and a database name together never pass the length where the store's keys are
hashed; a policy's ID, unbounded, is the part that can. Two bulk changes racing on a policy with an ID of
thousands of characters, one at the policy's level (a retention), one at the database's (a move), are still sent
one at a time. (tests/bot/adapters/test_long_name_leases.py holds the store's keys to it for any name.)"""

from __future__ import annotations

import threading
import time

from approval_helpers import ALICE, BOB, approvals_bot, sweep
from conftest import Bot
from test_one_judge import RANDOM, dispatch, wait_for_patch

from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

FREE_RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["production", "development"]
editors = ["U0ALICE001", "U0BOB00001"]
approvers = ["U0CAROL001"]
"""


def test_a_bulk_change_on_a_database_named_past_what_the_bot_sends_is_refused_before_any_lease(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    long = "pay-" + "x" * 1100
    planetscale.add_database("acme", long)
    planetscale.add_policy("acme", long, "bp09dev", name="Development daily", target="development")
    approvals_bot.use_rules(FREE_RULES)
    reply = approvals_bot.command('update acme/pay-* "Development daily" target=production', user=ALICE,
                                  channel=RANDOM)
    assert planetscale.calls("PATCH") == []
    assert "is not a valid database" in reply.all_text() and "Nothing was asked or sent" in reply.all_text()
    assert approvals_bot.deps.store.database_generation("acme", long) == 0  # nothing claimed


def test_a_move_waits_for_a_retention_change_in_flight_on_the_longest_names_the_bot_sends(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    organization, database, policy_id = "a" * 64, "pay-" + "d" * 124, "bp09" + "p" * 124
    planetscale.grant(DEMO_TOKEN_ID, DEMO_TOKEN, organization)
    planetscale.add_database(organization, database)
    planetscale.add_policy(organization, database, policy_id, name="Development daily", target="development")
    approvals_bot.use_rules(FREE_RULES.replace('"acme"', f'"{organization}"'))
    stall = threading.Event()
    planetscale.add_fault(Fault(method="PATCH", until=stall, times=1))
    bobs = threading.Thread(target=dispatch, args=(approvals_bot, approvals_bot.command_body(
        f'update {organization}/pay-* "Development daily" retention=9d', user=BOB, channel=RANDOM)))
    bobs.start()
    wait_for_patch(planetscale)
    alices = threading.Thread(target=dispatch, args=(approvals_bot, approvals_bot.command_body(
        f'update {organization}/pay-* "Development daily" target=production', user=ALICE, channel=RANDOM)))
    alices.start()
    time.sleep(1.5)  # alice's bulk change is asked, approved by its asking, and tries to claim
    sent = [c.body for c in planetscale.calls("PATCH")]
    stall.set()
    bobs.join(30)
    alices.join(30)
    assert approvals_bot.executor.wait_idle(60)
    assert sent == [{"retention_value": 9, "retention_unit": "day"}], \
        f"a move was sent while a retention change on its policy was in flight: {sent}"
    sweep(approvals_bot)
    assert approvals_bot.executor.wait_idle(60)
    policy = planetscale.policy(organization, database, policy_id)
    assert (policy["retention_value"], policy["target"]) == (9, "production"), policy
