"""What PlanetScale may have carried out is never sent again, and what it holds after is what the people are
told (one judge, on what was read under the lease). Driven through Bolt's pipeline with the emulators."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from approval_helpers import (
    ALICE,
    BOB,
    CAROL,
    PROD,
    RULES,
    approvals_bot,
    ask,
    direct_messages,
    latest_view,
    patch_in_flight,
    request_id,
    request_message,
    second_instance,
    sweep,
    thread_of,
)
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


class MovedWhileWaiting(list[float]):
    """The client's backoff: while it waits to send again, someone changes the policy in PlanetScale."""

    def __init__(self, planetscale: PlanetScaleState) -> None:
        super().__init__()
        self.planetscale = planetscale

    def append(self, seconds: float) -> None:
        super().append(seconds)
        self.planetscale.dashboard_change("acme", "app-db", DEV, retention_value=30, retention_unit="day")


@pytest.fixture
def sleeps(planetscale: PlanetScaleState) -> list[float]:
    return MovedWhileWaiting(planetscale)


def test_a_patch_whose_answer_is_lost_is_never_sent_again_onto_a_policy_moved_meanwhile(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's PATCH lands but its answer is lost (503); someone sets 30 days in PlanetScale meanwhile. A second
    PATCH would overwrite that with alice's 9 days: it is never sent, and reading back settles the request."""
    planetscale.add_fault(Fault(status=503, method="PATCH", landed=True))
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1, "a PATCH PlanetScale may have carried out was sent again"
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9  # nobody's change overwritten
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED  # settled by reading the policy back, under the lease


def test_a_patch_answered_5xx_that_did_not_land_is_sent_once_and_told_failed_plainly(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    planetscale.add_fault(Fault(status=503, method="PATCH", times=None))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert len(planetscale.calls("PATCH")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED
    assert "PlanetScale does not hold the change, so it was not applied" in reply.all_text()




def database_fails_when_recording(bot: Bot, monkeypatch: pytest.MonkeyPatch, to: RequestState) -> None:
    """The database goes away just as the outcome of a send is to be recorded (the move to `to`)."""
    store = bot.deps.store
    real = store.transition

    def transition(request_id: str, from_states: Any, state: RequestState, **values: Any) -> Any:
        if state is to:
            raise sa.exc.OperationalError("UPDATE change_requests", {}, Exception("server closed the connection"))
        return real(request_id, from_states, state, **values)

    monkeypatch.setattr(store, "transition", transition)


@pytest.mark.parametrize(("command", "check"), [
    (f"update acme/app-db {DEV} retention=9d",
     lambda ps: ps.policy("acme", "app-db", DEV)["retention_value"] == 9),
    ('create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00',
     lambda ps: any(p["name"] == "Nightly" for p in ps.policies[("acme", "app-db")].values())),
    (f"delete acme/app-db {DEV} reason=\"unused\"", lambda ps: DEV not in ps.policies[("acme", "app-db")]),
])
def test_a_send_that_landed_while_the_database_failed_is_told_applied_and_recorded_later(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch, command: str,
        check: Any) -> None:
    """PlanetScale carries the change out; recording it fails. "Nothing more was done" would be false."""
    changes = approvals_bot.deps.changes
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    database_fails_when_recording(approvals_bot, monkeypatch, RequestState.APPLIED)
    reply = approvals_bot.command(command, user=ALICE)
    assert check(planetscale)
    told = reply.all_text()
    assert "nothing more was done" not in told.lower(), told
    assert "Applied at PlanetScale" in told and "could not be recorded" in told, told
    monkeypatch.undo()  # the database is back
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED  # recorded once the database is back


def test_a_late_patch_that_lands_after_the_sweep_closed_its_request_failed_moves_it_to_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's worker stalls in its PATCH past its lease; the sweep reads the policy (not changed yet) and closes
    the request as failed; then the PATCH lands. PlanetScale holds the change: the record says applied, with a
    note, and the requester is told so."""
    changes = approvals_bot.deps.changes
    now, stalled, worker = patch_in_flight(approvals_bot, planetscale, DEV)
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED  # as the sweep saw it: PlanetScale did not hold it yet
    stalled.set()
    worker.join(20)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 9
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED, "the record says failed while PlanetScale holds the change"
    assert "after the bot had closed it as failed" in (request.detail or "")
    sweep(approvals_bot)  # tells what is owed
    told = " ".join(direct_messages(approvals_bot, ALICE))
    assert "applied" in told.lower(), told


def test_a_late_patch_that_overwrites_a_change_applied_since_is_detected_and_recorded(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState) -> None:
    """As above, and meanwhile bob's 5 days is applied by another instance; alice's late 9 days then lands on top
    of it. The bot cannot stop it (nothing in PlanetScale's API would): it says so on the record."""
    now, stalled, worker = patch_in_flight(approvals_bot, planetscale, DEV, also=(second_instance,))
    now[0] += approvals_bot.deps.changes.lease_seconds + 1
    sweep(second_instance)
    second_instance.command(f"update acme/app-db {DEV} retention=5d", user=BOB)
    [bobs] = second_instance.deps.store.requests([RequestState.APPLIED])
    stalled.set()
    worker.join(20)
    [alices] = [r for r in approvals_bot.deps.store.requests([RequestState.APPLIED]) if r.id != bobs.id]
    assert f"may have overwritten request {bobs.id[:8]}" in (alices.detail or ""), alices.detail


def test_a_request_judged_again_that_still_cannot_be_told_is_said_once_not_every_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol's approval completes alice's request; under the lease its backups cannot be read to weigh a storage
    guardrail, so it waits; the sweep judges it again each minute and each time it still cannot tell."""
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "60GB"
""")
    changes = approvals_bot.deps.changes
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=3d")
    planetscale.add_fault(Fault(status=503, method="GET", path_contains="/branches", times=None))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    for _ in range(3):
        now[0] += 61
        sweep(approvals_bot)
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.PENDING
    judged = [t for t in thread_of(approvals_bot, message) if "Judged again" in t]
    # The sweep weighs its backups before it claims it (rev24i): while they cannot be read it is left waiting,
    # carol having been told so by her click, and nothing is said again.
    assert len(judged) <= 1, judged
    planetscale.faults.clear()
    now[0] += 61
    sweep(approvals_bot)
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED


def test_a_policy_moved_in_planetscale_between_the_read_and_the_patch_is_told_as_planetscale_holds_it(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's retention change is read under the lease, and while its PATCH is on its way someone moves the
    policy's schedule to 06:00 in PlanetScale. The PATCH lands (PlanetScale has no conditional PATCH); the
    result says what PlanetScale now holds, not only what the bot meant to do."""
    before = planetscale.policy("acme", "app-db", DEV)
    assert before["schedule_time"] != "06:00"
    on_its_way = threading.Event()
    planetscale.add_fault(Fault(method="PATCH", until=on_its_way))
    replies: list[Any] = []
    worker = threading.Thread(target=lambda: replies.append(
        approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)))
    worker.start()
    deadline = time.monotonic() + 60
    while not planetscale.calls("PATCH"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    planetscale.dashboard_change("acme", "app-db", DEV, schedule_time="06:00")
    on_its_way.set()
    worker.join(20)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED
    shown = latest_view(approvals_bot, request_message(approvals_bot))
    assert "PlanetScale now holds" in shown and "06:00" in shown, shown
    assert "no conditional" in (request.detail or ""), request.detail
