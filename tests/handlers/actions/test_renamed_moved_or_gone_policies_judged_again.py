"""The judge's checks that look past the policy itself (the names of the database's other policies): two renames
into one name leave one policy of that name; an approved retention whose unit moved, or whose policy is gone, is
not sent as something else. Driven through Bolt's pipeline with the emulators."""

from __future__ import annotations

import json
import time

import pytest
from approval_helpers import (
    BOB,
    CAROL,
    approvals_bot,
    ask,
    direct_messages,
    patch_in_flight,
    request_id,
    second_instance,
    sweep,
)
from conftest import Bot
from test_one_judge import dispatch

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DEV, DEV2, KEPT, OTHER = "bp03devday", "bp06devtwo", "bp07prodkept", "bp08other"


def renamed_together(alices: Bot, bobs: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice renames one development policy to "Nightly" (no approval needed); PlanetScale holds her PATCH.
    Meanwhile bob renames another development policy of the same database to "Nightly". A rename into a name
    the database already has is refused (two policies of one name are found by neither), so the two must be
    judged one after the other: bob's, which does not wait here for a lease another change holds, is left to
    the sweep, and judged again there once alice's has landed."""
    planetscale.add_policy("acme", "app-db", DEV2, name="Development two", target="development")
    now, held, first = patch_in_flight(alices, planetscale, DEV, also=(bobs,), change='name="Nightly"')
    alices.deps.changes.claim_wait = bobs.deps.changes.claim_wait = 0.0
    # bob's work runs beside alice's, held at PlanetScale: asked here, it is either sent (the defect) or queued.
    dispatch(bobs, bobs.command_body(f'update acme/app-db {DEV2} name="Nightly"', user=BOB))
    deadline = time.monotonic() + 60
    while not [r for r in bobs.deps.store.requests([RequestState.APPROVED, RequestState.APPLIED])
               if r.requester == BOB]:
        assert time.monotonic() < deadline, "bob's rename was neither sent nor queued"
        time.sleep(0.02)
    held.set()
    first.join(60)
    assert alices.executor.wait_idle(60) and bobs.executor.wait_idle(60)
    now[0] += 120
    sweep(bobs)
    names = [p["name"] for p in planetscale.policies[("acme", "app-db")].values()]
    assert names.count("Nightly") == 1, f"two policies of app-db are now named Nightly: {names}"
    [bobs_request] = [r for r in bobs.deps.store.requests(list(RequestState)) if r.requester == BOB]
    assert bobs_request.state is RequestState.FAILED and "already has a policy named" in (bobs_request.detail or "")
    told = " ".join(direct_messages(bobs, BOB))
    assert "already has a policy named" in told, f"bob is never told why his rename was not applied: {told!r}"


def test_two_renames_into_one_name_asked_together_leave_one_policy_of_that_name(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    renamed_together(approvals_bot, approvals_bot, planetscale, monkeypatch)


def test_two_renames_into_one_name_asked_together_on_two_instances_leave_one_policy_of_that_name(
        approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed_together(approvals_bot, second_instance, planetscale, monkeypatch)


def test_an_approved_retention_whose_unit_moved_in_planetscale_is_not_sent_as_something_else(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice asks `retention_value=2` on a daily production policy that keeps its backups 4 weeks: her request
    shows "4 weeks → 2 weeks", and carol approves that. Meanwhile someone sets its retention to 4 days in
    PlanetScale's dashboard (the number is the same, its unit is not). Sending 2 now keeps backups 2 days, which
    nobody approved: the retention the request changes moved since it was asked, so nothing is sent, as for
    any field it sets."""
    planetscale.add_policy("acme", "app-db", KEPT, name="Production kept", target="production",
                           retention_value=4, retention_unit="week", frequency_value=1, frequency_unit="day")
    message = ask(approvals_bot, f'update acme/app-db {KEPT} retention_value=2 reason="cost"')
    assert "2 weeks" in json.dumps(message.blocks, ensure_ascii=False)
    planetscale.dashboard_change("acme", "app-db", KEPT, retention_unit="day")
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    now = planetscale.policy("acme", "app-db", KEPT)
    assert (now["retention_value"], now["retention_unit"]) == (4, "day"), \
        f"carol approved 2 weeks; PlanetScale now keeps {now['retention_value']} {now['retention_unit']}s"
    [request] = approvals_bot.deps.store.requests([RequestState.FAILED])
    assert "changed in PlanetScale since the request" in (request.detail or "")


def test_an_approved_change_whose_policy_is_gone_is_not_sent_to_a_policy_named_like_its_id(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice asks retention=3w on "Production weekly" (`bp02prodwk`); before carol approves, that policy is
    deleted in PlanetScale's dashboard and another production policy is named `bp02prodwk`. Policies are found
    by ID or by name when asked; under the lease the request's policy is its ID alone: carol approved a change
    of "Production weekly", and nothing may be sent to another policy in its place."""
    message = ask(approvals_bot, 'update acme/app-db bp02prodwk retention=3w reason="cost"')
    planetscale.dashboard_delete("acme", "app-db", "bp02prodwk")
    planetscale.add_policy("acme", "app-db", OTHER, name="bp02prodwk", target="production", retention_value=4,
                           retention_unit="week", frequency_value=1, frequency_unit="week", schedule_day=0)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    other = planetscale.policy("acme", "app-db", OTHER)
    assert (other["retention_value"], other["retention_unit"]) == (4, "week"), \
        "carol's approval of a change to Production weekly changed another policy"
    [request] = approvals_bot.deps.store.requests([RequestState.FAILED])
    assert "deleted in PlanetScale since" in (request.detail or ""), request.detail
