"""PlanetScale answering a PATCH of one policy with another policy (200, a body the spec allows) tells nothing of the
policy asked (review rev19v). The bot recorded the change applied with the other policy's values as its `after`,
and told that the development policy now held "name=Production daily, target=production, … set there by someone
else": a move to production nobody made, on the audit trail, though PlanetScale's answer did not even hold the
retention sent. Such an answer is now one the bot cannot read: whether the PATCH landed is read back."""

from __future__ import annotations

import json

from approval_helpers import ALICE, PROD, approvals_bot, swept_later
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"


def test_a_patch_answered_with_another_policy_is_read_back(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    other = planetscale.policies[("acme", "app-db")][PROD]
    planetscale.add_fault(Fault(method="PATCH", status=200, body=json.dumps(other)))  # not carried out
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED, "recorded applied on another policy's answer"
    assert not any(e.after and e.after.get("target") == "production" for e in approvals_bot.audit.all()
                   if e.policy_id == DEV), "the development policy recorded as moved to production"
    swept_later(approvals_bot, 3600)  # past its lease: the sweep reads what PlanetScale holds
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] != 9



NIGHTLY = 'name="Nightly" target=development retention=7d frequency=1d at=02:00'


def test_a_creation_answered_with_another_policy_is_read_back(approvals_bot: Bot,
                                                               planetscale: PlanetScaleState) -> None:
    """A POST of "Nightly" answered 201 with the production policy bp01prod12h was recorded as its creation, and
    its message offered Revert as "Delete Production daily, which this created"."""
    other = planetscale.policies[("acme", "app-db")][PROD]
    planetscale.add_fault(Fault(method="POST", status=201, body=json.dumps(other), path_contains="backup-policies"))
    reply = approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=ALICE)
    assert "which this created" not in reply.all_text()
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.policy_id != PROD and request.state is not RequestState.APPLIED
    swept_later(approvals_bot, 3600)  # past its lease: the sweep reads what PlanetScale lists
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and request.policy_id != PROD
