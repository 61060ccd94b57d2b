"""A bulk change's approval on the record (Store.add_batch_approval done) whose step then meets a database that
drops its connection: the approver hears their approval is recorded and where the change goes from there, never
"Something went wrong inside the bot; nothing more was done", as a single request's approver does
(bot/domain/deciding.py); and the sweep applies it once the database is back. Through Bolt's pipeline, SQLite and
PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, request_message, swept_later
from bulk_helpers import button
from conftest import Bot
from test_a_step_untold_as_the_database_drops_says_where_it_stands import dropped_on

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

NAMES = ("pay-01", "pay-02")


def approved_as_the_database_drops(bot: Bot, planetscale: PlanetScaleState, method: str) -> str:
    """alice's bulk change over two production policies, one approval asked; carol's approval is stored and the
    database drops its connection at the step's next `method`: what carol was told."""
    for name in NAMES:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.use_rules(RULES.format(approvals=1))
    bot.command('update acme/pay-* "Production daily" retention=14d', user=ALICE)
    message = request_message(bot)
    batch_id = button(message, BULK_APPROVE)
    with dropped_on(bot.deps.store, method, after="add_batch_approval"):
        reply = bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert bot.deps.store.batch_approvers(batch_id) == [CAROL]
    return " ".join(e.text for e in reply.private)


def retention(planetscale: PlanetScaleState) -> list[int]:
    return [planetscale.policy("acme", n, f"{n}-prod")["retention_value"] for n in NAMES]


def test_a_bulk_approval_recorded_whose_apply_meets_a_dropped_connection_is_told_recorded_and_applied_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    said = approved_as_the_database_drops(approvals_bot, planetscale, "approve_batch")
    assert "nothing more was done" not in said, said
    assert "Your approval" in said and "is recorded" in said and "sweep" in said, said
    assert retention(planetscale) != [14, 14]
    swept_later(approvals_bot)
    assert retention(planetscale) == [14, 14]

