"""A stored change names its policy by ID: another policy named in PlanetScale's dashboard as that ID since (a name
the bot refuses itself, the dashboard does not) makes a person's reference ambiguous, never the stored one. The
change is applied, reverted and settled on its own policy, not told deleted; an Edit button (the bot's own record
of the ID) opens its form on it and the form's change is sent to it. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, BOB, CAROL, PROD, approvals_bot, ask, request_id, sweep
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE, EDIT, REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def named_as(planetscale: PlanetScaleState, policy_id: str) -> None:
    """Another policy of acme/app-db renamed in the dashboard to `policy_id`."""
    other = "bp02prodwk" if policy_id != "bp02prodwk" else "bp01prod12h"
    planetscale.dashboard_change("acme", "app-db", other, name=policy_id)


def test_an_approved_change_is_applied_on_its_policy_though_another_is_named_as_its_id(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    named_as(planetscale, PROD)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED, (request, reply.all_text())
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == [PROD]
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 5


def test_a_revert_acts_on_its_policy_though_another_is_named_as_its_id(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    [applied] = approvals_bot.deps.store.requests([RequestState.APPLIED])
    named_as(planetscale, DEV)
    reply = approvals_bot.click(REVERT, applied.id, user=BOB)
    said = reply.all_text()
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 3, said
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == [DEV, DEV], said


def test_an_unconfirmed_change_is_settled_on_its_policy_though_another_is_named_as_its_id(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    planetscale.add_fault(Fault(status=504, method="PATCH"))  # unconfirmed: settled by reading it later
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    planetscale.dashboard_change("acme", "app-db", DEV, retention_value=9, retention_unit="day")  # it landed
    named_as(planetscale, DEV)
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    [request] = store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED, request


def test_an_edit_button_opens_its_policy_though_another_is_named_as_its_id(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    shown = approvals_bot.command(f"show acme/app-db {DEV}", user=ALICE)
    button = next(e for b in shown.private[0].blocks for e in b.get("elements", []) if e.get("action_id") == EDIT)
    named_as(planetscale, DEV)
    approvals_bot.click(EDIT, button["value"], user=ALICE)
    view = approvals_bot.current_view()
    assert view.get("callback_id") == "policy_edit_form", json.dumps(view, ensure_ascii=False)[:700]
    preview = approvals_bot.submit(view, {"retention_value": "5"})
    assert preview.ack["response_action"] == "update", preview.ack
    confirm = {**preview.ack["view"], "id": view["id"]}  # Slack keeps the view's ID across response_action: update
    approvals_bot.submit(confirm, {})
    patched = planetscale.calls("PATCH")
    assert [c.path.rsplit("/", 1)[-1] for c in patched] == [DEV] and patched[0].body == {"retention_value": 5}
