"""A bulk change's policies whose storage it did not estimate because its share of reads was spent are told
that their backups were not read (and why), never that they "could not be read": PlanetScale was never asked for
them. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot
from conftest import Bot
from test_bulk_estimate_reads_bounded import BOUNDED, wide_databases
from test_storage_estimate_branches import said_in_bulk

from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_a_preview_past_the_share_says_the_backups_were_not_read(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = wide_databases(planetscale, 4)
    said = approvals_bot.command('update acme/wide-* "Dev daily" retention=5d --dry-run', user=ALICE).all_text()
    lines = [line for line in said.split("\\n") if f"`{dbs[3]}`" in line]
    assert lines and all("at most 300 backup lists" in line for line in lines), lines
    assert all("could not be read" not in line and "were not read" in line for line in lines), lines


def test_a_policy_left_out_past_the_share_under_a_bound_says_its_backups_were_not_read(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(BOUNDED)
    wide_databases(planetscale, 4)
    approvals_bot.command('update acme/wide-* "Dev daily" retention=5d', user=ALICE)
    said = said_in_bulk(approvals_bot)
    assert "at most 300 backup lists" in said
    assert "could not be read" not in said and "were not read" in said, said
