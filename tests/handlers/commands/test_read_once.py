"""A change applied at once is read once: the read made when it was asked is used under its lease only when
nothing of the bot's touched the database since (no claim on it, none under way when it was read). Otherwise the
policy is read again under the lease, as every change is."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from conftest import SIGNING_SECRET, Bot, signed_headers
from slack_bolt.request import BoltRequest

from bot.emulators.planetscale import Fault, PlanetScaleState

POLICY = "bp01prod12h"


def policy_reads(planetscale: PlanetScaleState) -> int:
    return len([c for c in planetscale.calls("GET") if c.path.endswith("/backup-policies")])


def until(condition: Callable[[], bool], why: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, why
        time.sleep(0.01)


def test_a_change_asked_after_another_is_read_once(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.command(f"update acme/app-db {POLICY} retention=30d")
    bot.command(f"update acme/app-db {POLICY} at=03:00")
    assert policy_reads(planetscale) == 2 and len(planetscale.calls("PATCH")) == 2


def test_a_change_whose_read_another_change_overtook_reads_again_under_its_lease(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    """bob's read is held while alice's change claims the policy and applies: bob's read is then stale, and his
    change is judged and sent on the policy read again under his lease."""
    gate = threading.Event()
    planetscale.add_fault(Fault(method="GET", path_contains="/backup-policies", until=gate, times=1))
    bobs = bot.command_body(f"update acme/app-db {POLICY} at=03:00", user="U0BOB00001")
    bot.app.dispatch(BoltRequest(body=bobs, headers=signed_headers(SIGNING_SECRET, bobs)))
    until(lambda: policy_reads(planetscale) == 1, "bob's read never reached PlanetScale")
    alices = bot.command_body(f"update acme/app-db {POLICY} retention=30d")
    bot.app.dispatch(BoltRequest(body=alices, headers=signed_headers(SIGNING_SECRET, alices)))
    until(lambda: len(planetscale.calls("PATCH")) == 1, "alice's change was never sent")
    gate.set()
    assert bot.executor.wait_idle(30)
    assert len(planetscale.calls("PATCH")) == 2
    assert policy_reads(planetscale) == 3  # alice once; bob when asked and again under his lease
    policy = planetscale.policy("acme", "app-db", POLICY)
    assert policy["retention_value"] == 30 and policy["schedule_time"] == "03:00"
