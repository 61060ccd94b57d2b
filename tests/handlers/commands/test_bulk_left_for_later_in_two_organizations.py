"""Two organizations each holding a database of the same name, each under a bulk change: what one leaves for the
sweep (its database failing a read for a moment when approved) is its own. The other is applied at once, and the
sweep applies the one left, in its own organization; no policy is changed twice or in the other's place. Through
Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import CAROL, RULES, approvals_bot, sweep
from backup_reads import moved_clock
from conftest import Bot
from test_bulk import add_databases, button, channel_messages, patched, shown

from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_database_left_for_the_sweep_in_one_organization_holds_nothing_of_its_namesake_in_another(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    now = moved_clock(bot)
    bot.use_rules(RULES.format(approvals=1).replace('organizations = ["acme"]', 'organizations = ["acme", "zeta"]')
                  + storage_bound("production", "7TB"))
    [name] = add_databases(planetscale, "shop", 1)
    with planetscale.lock:
        planetscale.add_database("zeta", name)
        planetscale.add_policy("zeta", name, "zeta-shop-prod", name="Production daily", target="production")
    planetscale.grant(DEMO_TOKEN_ID, DEMO_TOKEN, "zeta")
    bot.command(f'update acme/{name[:4]}* "Production daily" retention=14d')
    bot.command(f'update zeta/{name[:4]}* "Production daily" retention=14d')
    acme, zeta = channel_messages(bot)
    fault = planetscale.add_fault(Fault(status=500, method="GET", times=None,
                                        path_contains=f"/organizations/acme/databases/{name}/"))
    bot.click(BULK_APPROVE, button(acme, BULK_APPROVE), user=CAROL, message=acme)
    assert "waiting on PlanetScale" in shown(bot, acme), shown(bot, acme)
    bot.click(BULK_APPROVE, button(zeta, BULK_APPROVE), user=CAROL, message=zeta)
    assert patched(planetscale) == [f"/organizations/zeta/databases/{name}/backup-policies/zeta-shop-prod"]
    assert "Applied to 1 of 1" in shown(bot, zeta), shown(bot, zeta)
    planetscale.faults.remove(fault)
    now[0] += 120
    sweep(bot)
    assert sorted(patched(planetscale)) == [f"/organizations/acme/databases/{name}/backup-policies/{name}-prod",
                                            f"/organizations/zeta/databases/{name}/backup-policies/zeta-shop-prod"]
    assert "Applied to 1 of 1" in shown(bot, acme), shown(bot, acme)
    assert planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"] == 14
    assert planetscale.policies[("zeta", name)]["zeta-shop-prod"]["retention_value"] == 14
