"""A change past its policy's lease row damaged in the database: text in its `until` (SQLite keeps any text in a
number's column, and compares it as greater than any number), or a time no lease reaches (1e308, Infinity, NaN).
Such a lease was never taken again, and every change of the policy (or, the database's lease, of every policy of
the database) waited for good: now it is counted as damaged and taken over, and the change applies."""

from __future__ import annotations

import sqlalchemy as sa
from approval_helpers import ALICE, approvals_bot
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held

from bot.adapters.schema import policy_leases
from bot.domain.change_requests import DATABASE_LEASE
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report

__all__ = ["approvals_bot"]  # a fixture, used by name
DEV = "bp03devday"  # development: no approval needed
UNTILS = damaged_times()


def held_damaged(bot: Bot, key: str, until: object) -> None:
    """Another instance's lease on `key`, its until damaged; skips what the database cannot hold."""
    skip_unless_held(bot, until)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(policy_leases.insert().values(policy_key=key, holder="another-instance", until=0, generation=1))
        conn.execute(sa.text("update policy_leases set until = :until where policy_key = :key"),
                     {"until": until, "key": key})


@UNTILS
def test_a_damaged_policy_lease_is_taken_over_and_the_change_applies(
        approvals_bot: Bot, planetscale: PlanetScaleState, until: object) -> None:
    bot = approvals_bot
    key = f"acme/app-db/{DEV}"
    held_damaged(bot, key, until)
    reply = bot.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 5, reply.all_text()
    assert health_report(bot.deps)["damaged_rows"] == [f"policy lease {key}"]
    with bot.deps.store.engine.begin() as conn:  # rewritten, and given back
        holder, written = conn.execute(sa.select(policy_leases.c.holder, policy_leases.c.until)
                                       .where(policy_leases.c.policy_key == key)).one()
    assert holder is None
    assert written == 0
    reply = bot.command(f"update acme/app-db {DEV} retention=6d", user=ALICE)  # and the changes go on
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 6, reply.all_text()


@UNTILS
def test_a_damaged_database_lease_holds_back_no_change_of_its_policies(
        approvals_bot: Bot, planetscale: PlanetScaleState, until: object) -> None:
    bot = approvals_bot
    held_damaged(bot, f"acme/app-db/{DATABASE_LEASE}", until)
    reply = bot.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 5, reply.all_text()
