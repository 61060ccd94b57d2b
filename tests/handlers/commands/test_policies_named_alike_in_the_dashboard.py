"""A policy named in PlanetScale's dashboard with a name that reads as another (a no-break space where a space
is): the bot refuses such names itself, but reads them. A command that names it as it reads is answered with the
policy's ID to use, not with the same name back as a guess the person cannot type; and a bulk change's name glob
names it as it reads, never leaving it out without a word. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot
from bulk_helpers import button, channel_messages
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name

ALIKE = "Production\u00a0daily"  # reads as "Production daily"


def dashboard_named(planetscale: PlanetScaleState) -> None:
    planetscale.add_database("acme", "side-db")
    planetscale.add_policy("acme", "side-db", "bpside", name=ALIKE, target="production", retention_value=7,
                           retention_unit="day", frequency_value=1, frequency_unit="day")


def test_a_policy_named_as_one_reads_is_answered_with_its_id(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dashboard_named(planetscale)
    reply = approvals_bot.command('update acme/side-db "Production daily" retention=14d', user=ALICE)
    assert "`bpside`" in reply.all_text(), reply.all_text()
    assert "U+00A0" in reply.all_text(), reply.all_text()
    assert planetscale.calls("PATCH") == []


def test_a_bulk_name_glob_names_a_policy_whose_name_reads_as_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dashboard_named(planetscale)
    approvals_bot.command('update acme/*-db "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch = approvals_bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert batch is not None
    assert sorted(p.policy_id for p in batch.planned) == ["bp01prod12h", "bp04billing", "bpside"]
    approvals_bot.click(BULK_APPROVE, batch.id, user=CAROL, message=message)
    assert planetscale.policy("acme", "side-db", "bpside")["retention_value"] == 14
