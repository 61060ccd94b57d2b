"""Two instances on one database whose wall clocks disagree by more than a lease (a host with no NTP, a VM
resumed): the one ahead must not read a lease the other holds as run out. Were the store's leases read on each
host's wall clock, the policy's lease (bot/adapters/store/requests.py) would let its sweep take over a change the
other is sending, and close it as failed while PlanetScale applies it; the watch's lease (store/watch.py) would
let two instances watch at once. The store's clock is the database's (bot/adapters/store/clock.py). On PostgreSQL
(two instances)."""

from __future__ import annotations

import threading
import time

import pytest
from approval_helpers import sweep
from test_inbox import PROD, Instances, acked, instances, retention

from bot.adapters.store import Store
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackState

__all__ = ["instances"]  # a fixture, used by name

SKEW = 31 * 60.0  # the other host's clock, 31 minutes ahead


def test_an_instance_whose_clock_is_ahead_does_not_take_over_a_change_another_is_sending(
        store_url: str, instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("two instances share a database only on PostgreSQL")
    doing, ahead = instances.start(), instances.start(wall=lambda: time.time() + SKEW)
    release = threading.Event()
    planetscale.add_fault(Fault(method="PATCH", path_contains=PROD, until=release))  # its PATCH takes a while
    try:
        assert acked(doing, doing.command_body(f"update acme/app-db {PROD} retention=9d")) == 200
        deadline = time.monotonic() + 30
        while not planetscale.calls("PATCH") and time.monotonic() < deadline:
            time.sleep(0.05)
        [applying] = doing.deps.store.requests([RequestState.APPLYING])
        sweep(ahead)  # as serve's sweeper runs it, every 30 s
        taken_over = [(e.action, e.detail) for e in ahead.audit.all()
                      if e.request_id == applying.id and e.action not in ("requested", "sending")]
    finally:
        release.set()
    assert doing.executor.wait_idle(timeout=60) and ahead.executor.wait_idle(timeout=60)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert taken_over == [], f"the instance ahead took over the change being sent: {taken_over}"


def test_an_instance_whose_clock_is_ahead_does_not_take_the_watch_another_holds(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("two instances share a database only on PostgreSQL")
    watching, ahead = Store(store_url), Store(store_url, wall=lambda: time.time() + SKEW)
    try:
        watching.migrate()
        assert watching.take_watch_lease("watching:1", 60)
        assert not ahead.take_watch_lease("ahead:2", 60), "both instances hold the watch"
    finally:
        watching.close()
        ahead.close()
