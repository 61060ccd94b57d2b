"""Deleting, or moving out of production, the last production policy of a database is allowed where no
`min_policies` floor covers it, but its request says so among what is worth a second look, so its approver sees
that the database would be left with no production backups. Alone and in a bulk change, through Bolt's pipeline
on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot, latest_view, request_message
from bulk_helpers import button, channel_messages
from conftest import Bot
from test_bulk import shown, thread

from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name

LEFT = "leaves one-db with no production policy"


def one_production_policy(planetscale: PlanetScaleState) -> None:
    planetscale.add_database("acme", "one-db")
    planetscale.add_policy("acme", "one-db", "bponly", name="Only", target="production", retention_value=7,
                           retention_unit="day", frequency_value=1, frequency_unit="day")
    planetscale.add_policy("acme", "one-db", "bpdev", name="Dev", target="development", retention_value=7,
                           retention_unit="day", frequency_value=1, frequency_unit="day")


def test_a_deletion_of_the_last_production_policy_says_so_in_its_request(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    one_production_policy(planetscale)
    approvals_bot.command('delete acme/one-db bponly reason="moving"', user=ALICE)
    assert LEFT in latest_view(approvals_bot, request_message(approvals_bot))
    assert planetscale.calls("DELETE") == []


def test_a_bulk_move_of_the_last_production_policy_says_so_for_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    one_production_policy(planetscale)
    approvals_bot.command("update acme/one-db * --where target=production target=development", user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch = approvals_bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert batch is not None and [p.policy_id for p in batch.planned] == ["bponly"]
    assert LEFT in batch.planned[0].risks, batch.planned[0].risks
    assert planetscale.calls("PATCH") == [] and shown(approvals_bot, message) + thread(approvals_bot, message)


def test_a_deletion_that_leaves_another_production_policy_says_nothing_of_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command('delete acme/app-db bp02prodwk reason="moving"', user=ALICE)
    assert "with no production policy" not in latest_view(approvals_bot, request_message(approvals_bot))
