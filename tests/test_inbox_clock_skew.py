"""Two instances on one database whose wall clocks disagree by more than the inbox keeps work (a host whose clock
jumped forwards: no NTP, a VM resumed): the instance ahead must not give up, as lost, work the other acked a
moment ago and is doing. Otherwise its person is told "lost, nothing was sent, try again" while the change is
applied, and a second try asks it twice. Through Bolt's pipeline, on PostgreSQL (two instances)."""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest
from test_inbox import PROD, Instances, acked, inbox_of, instances

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackState
from bot.runtime.app import redo
from bot.runtime.lost_work import tell_lost
from bot.runtime.sweeper import INBOX_GIVE_UP, InboxKeeper

__all__ = ["instances"]  # a fixture, used by name


def told_lost(slack: SlackState) -> list[str]:
    return [e.text for e in slack.events if "Nothing was sent to PlanetScale for it" in e.text]


def test_an_instance_whose_clock_is_ahead_does_not_give_up_work_another_is_doing(
        store_url: str, instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("two instances share a database only on PostgreSQL")
    # The other host's clock, 31 minutes ahead: everything that instance reads as the time.
    doing, ahead = instances.start(), instances.start(wall=lambda: time.time() + INBOX_GIVE_UP + 60)
    release = threading.Event()
    planetscale.add_fault(Fault(method="GET", path_contains=PROD, until=release))  # its read takes a while
    assert acked(doing, doing.command_body(f"update acme/app-db {PROD} retention=9d")) == 200
    keeper = InboxKeeper(inbox_of(ahead), partial(redo, ahead.app),
                         lost=partial(tell_lost, ahead.app.client, ahead.deps.store.record, minutes=INBOX_GIVE_UP / 60))
    keeper.step()  # as serve wires it (bot/runtime/running.py)
    release.set()
    assert doing.executor.wait_idle(timeout=60) and ahead.executor.wait_idle(timeout=60)
    applied = int(planetscale.policy("acme", "app-db", PROD)["retention_value"]) == 9
    assert not (applied and told_lost(slack)), f"applied, and told: {told_lost(slack)}"


def test_work_acked_by_an_instance_whose_clock_is_behind_is_neither_taken_over_nor_given_up(
        store_url: str, instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    """The same skew the other way: the instance behind writes its row; another, its clock right, must read it as
    just begun and held, not as half an hour old and lapsed (redone beside the first, and its person told lost)."""
    if not store_url.startswith("postgresql"):
        pytest.skip("two instances share a database only on PostgreSQL")
    behind, other = instances.start(wall=lambda: time.time() - INBOX_GIVE_UP - 60), instances.start()
    release = threading.Event()
    planetscale.add_fault(Fault(method="GET", path_contains=PROD, until=release))
    assert acked(behind, behind.command_body(f"update acme/app-db {PROD} retention=9d")) == 200
    keeper = InboxKeeper(inbox_of(other), partial(redo, other.app),
                         lost=partial(tell_lost, other.app.client, other.deps.store.record, minutes=INBOX_GIVE_UP / 60))
    keeper.step()
    release.set()
    assert behind.executor.wait_idle(timeout=60) and other.executor.wait_idle(timeout=60)
    assert int(planetscale.policy("acme", "app-db", PROD)["retention_value"]) == 9
    assert len(planetscale.calls("PATCH")) == 1 and told_lost(slack) == []
