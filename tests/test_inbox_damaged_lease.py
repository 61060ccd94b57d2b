"""The inbox past a row whose `lease_until` is damaged in the database: text (SQLite keeps any text in a number's
column, and compares it as greater than any number), or a time no lease reaches (1e308, Infinity, NaN; SQLite
stores NaN as NULL, no time at all). The work
of an instance that stopped is redone by another, and, past half an hour, its person is told it was lost."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from conftest import ALICE, Bot
from damaged_times import damaged_times, skip_unless_held
from test_inbox import PROD, Instances, Killed, acked, inbox_of, keeper_of, left_undone, retention
from test_inbox import instances as instances  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState
from bot.runtime.app import health_report
from bot.runtime.running import start_sweeper
from bot.runtime.sweeper import INBOX_GIVE_UP

UNTILS = damaged_times()


def damage(bot: Bot, until: object) -> None:
    skip_unless_held(bot, until, nan_on_sqlite=None)  # NULL: a lease never written, lapsed too
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update deliveries set lease_until = :until where body is not null"),
                            {"until": until}).rowcount == 1


@UNTILS
def test_work_of_a_stopped_instance_whose_lease_is_damaged_is_redone_by_another(
        instances: Instances, planetscale: PlanetScaleState, until: object) -> None:
    killed, alive = instances.start(Killed()), instances.start()
    assert acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    damage(alive, until)
    keeper_of(alive, 1).step()  # its lease would run still
    assert alive.executor.wait_idle(timeout=60)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert left_undone(alive) == []
    assert [name for name in health_report(alive.deps)["damaged_rows"] if name.startswith("inbox lease")]


@UNTILS
def test_work_whose_lease_is_damaged_left_for_half_an_hour_is_told_to_its_person(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState, settings: Any,
        until: object) -> None:
    killed, alive = instances.start(Killed()), instances.start()
    assert acked(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    damage(alive, until)
    keeper = start_sweeper(alive.deps, alive.app, settings, start=False).inbox
    assert keeper is not None
    inbox_of(alive).ahead = INBOX_GIVE_UP + 1
    keeper.step()
    assert alive.executor.wait_idle(timeout=30)
    assert left_undone(alive) == [] and planetscale.calls("PATCH") == []
    assert [e.user for e in slack.events if "try again" in e.text] == [ALICE], slack.events
    assert [name for name in health_report(alive.deps)["damaged_rows"] if name.startswith("inbox lease")]
