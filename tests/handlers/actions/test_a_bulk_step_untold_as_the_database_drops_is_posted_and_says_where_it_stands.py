"""A bulk change stored, or applied at once, whose telling meets a database that drops its connection: the person
hears where it stands (waiting for approval; approved, with how many policies were applied), never "nothing more
was done", and the sweep posts its message in the channel, which no run did. Through Bolt's pipeline, SQLite and
PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, swept_later
from conftest import Bot
from test_a_step_untold_as_the_database_drops_says_where_it_stands import dropped_on

from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

CHANNEL = "C0DBAOPS01"


def databases(planetscale: PlanetScaleState, target: str) -> list[str]:
    names = ["pay-01", "pay-02"]
    for name in names:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-{target[:4]}", name="Daily", target=target)
    return names


def channel_messages(bot: Bot) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def applied_at_once_as_the_database_drops(bot: Bot, planetscale: PlanetScaleState) -> str:
    """A bulk change of two development policies (no approval needed), the database dropping its connection once
    both were applied: what its requester was told."""
    names = databases(planetscale, "development")
    with dropped_on(bot.deps.store, "batch_members", after="mark_told"):
        reply = bot.command('update acme/pay-* "Daily" retention=14d', user=ALICE, channel=CHANNEL)
    assert [planetscale.policy("acme", n, f"{n}-deve")["retention_value"] for n in names] == [14, 14]
    return " ".join(e.text for e in reply.private)


def test_a_bulk_change_applied_at_once_whose_telling_meets_a_dropped_connection_is_told_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    said = applied_at_once_as_the_database_drops(approvals_bot, planetscale)
    assert "nothing more was done" not in said, said
    assert "approved, 2 of its 2 policies applied" in said and "sweep" in said, said


def test_a_bulk_change_applied_at_once_whose_post_meets_a_dropped_connection_is_posted_by_the_sweep_once(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    applied_at_once_as_the_database_drops(approvals_bot, planetscale)
    assert channel_messages(approvals_bot) == []
    swept_later(approvals_bot)
    assert len(channel_messages(approvals_bot)) == 1, "the bulk change's message is never posted in its channel"
    swept_later(approvals_bot, 1200)
    assert len(channel_messages(approvals_bot)) == 1


def test_a_bulk_change_asked_whose_post_meets_a_dropped_connection_is_told_waiting_and_posted_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    databases(planetscale, "production")
    approvals_bot.use_rules(RULES.format(approvals=1))
    with dropped_on(approvals_bot.deps.store, "batch_members", after="add_batch"):
        reply = approvals_bot.command('update acme/pay-* "Daily" retention=14d', user=ALICE, channel=CHANNEL)
    said = " ".join(e.text for e in reply.private)
    assert "nothing more was done" not in said, said
    assert "waiting for approval" in said and "/backup-policy pending" in said, said
    listed = approvals_bot.command("pending", user=CAROL)
    assert "acme/pay-*" in listed.all_text()
    swept_later(approvals_bot)
    assert len(channel_messages(approvals_bot)) == 1, "the bulk change's message is never posted in its channel"
