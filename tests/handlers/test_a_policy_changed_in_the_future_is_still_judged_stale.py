"""A policy PlanetScale says was changed at a time still to come (year 9999, or days ahead of any clock's drift)
had its staleness judged from then: a schedule whose backups stopped long ago was never stale, and `status` said
it was fine. A change dated past the clocks' drift proves nothing, so staleness is judged from the last success.
Through Bolt on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from approval_helpers import approvals_bot
from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def with_last_success(planetscale: PlanetScaleState, days_ago: int) -> None:
    at = stamp(datetime.now(UTC) - timedelta(days=days_ago))
    listed = [{"id": "bkold", "state": "success", "size": 1_000, "created_at": at, "started_at": at,
               "completed_at": at, "expires_at": "9999-12-31T23:59:59Z"}]
    planetscale.add_fault(Fault(status=200, body=json.dumps({"type": "list", "current_page": 1, "next_page": None,
                                                             "prev_page": None, "data": listed}),
                                times=None, path_contains="/branches/main/backups"))


def production_daily(bot: Bot) -> str:
    shown = json.dumps([e.blocks for e in bot.command("status acme/app-db").events], ensure_ascii=False)
    start = shown.index("Production daily")
    return shown[start:start + 600]


@pytest.mark.parametrize("changed", ["9999-12-31T23:59:59-14:00", stamp(datetime.now(UTC) + timedelta(days=3))],
                         ids=["year 9999", "in 3 days"])
def test_a_change_dated_in_the_future_hides_no_staleness(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                         changed: str) -> None:
    planetscale.policies[("acme", "app-db")]["bp01prod12h"]["updated_at"] = changed
    with_last_success(planetscale, days_ago=10)
    said = production_daily(approvals_bot)
    assert "Stale: no successful backup within 1 day" in said and "before it changed" not in said, said


def test_a_change_made_lately_still_gives_the_schedule_its_span(approvals_bot: Bot,
                                                                planetscale: PlanetScaleState) -> None:
    planetscale.policies[("acme", "app-db")]["bp01prod12h"]["updated_at"] = stamp(datetime.now(UTC)
                                                                                  - timedelta(hours=1))
    with_last_success(planetscale, days_ago=10)
    said = production_daily(approvals_bot)
    assert "before it changed" in said and "Stale: no successful backup" not in said, said
