"""A `max_storage` refusal names the estimate and the bound so that a person sees which is larger: a bound in binary
units (`1TiB`) and an estimate just past it must not both read "1.1 TB", nor a size just under 1 TB "1000.0 GB".
Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]


def daily_policy(planetscale: PlanetScaleState, database: str, size: int) -> None:
    planetscale.add_database("acme", database)
    planetscale.add_policy("acme", database, f"{database}-dev", name="Dev daily", target="development",
                           frequency_value=1, frequency_unit="day", retention_value=2, retention_unit="day")
    planetscale.add_backup("acme", database, f"{database}-dev", hours_ago=2, size=size)


def test_an_estimate_just_past_a_binary_bound_is_not_told_equal_to_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Five backups of 220 GB are 1.1 TB, past 1 TiB (1.0995 TB): refused, and the words must say which is more."""
    approvals_bot.use_rules(RULES.format(approvals=0) + storage_bound("development", "1TiB"))
    daily_policy(planetscale, "edge", 220_000_000_000)
    said = approvals_bot.command('update acme/edge "Dev daily" retention=5d', user=ALICE).all_text()
    assert planetscale.calls("PATCH") == [], said
    assert "at most 1.1 TB allowed" not in said or "about 1.1 TB kept" not in said, said


def test_a_size_that_rounds_to_a_thousand_is_told_in_the_next_unit(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """999.96 GB kept is told as 1.0 TB, not as "1000.0 GB"."""
    daily_policy(planetscale, "round", 199_992_000_000)
    said = approvals_bot.command('update acme/round "Dev daily" retention=5d --dry-run', user=ALICE).all_text()
    assert "1000.0 GB" not in said, said
    assert "1.0 TB" in said, said
