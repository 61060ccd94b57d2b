"""PlanetScale answering a creation's POST (201) with a policy of the name sent that is not what the POST made
(review rev20t): one holding the ID of a policy the database held before (here the required production policy) was
recorded as created, so the request named that policy and its Revert offered to delete it; one holding other values
than those sent (a retention of 2 days for the 7 asked) was told "Applied" as asked. Either answer tells nothing
sure of what the POST made: what PlanetScale lists decides, as for an answer lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from approval_helpers import ALICE, PROD, approvals_bot, swept_later
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

NIGHTLY = 'name="Nightly" target=development retention=7d frequency=1d at=02:00'
SENT = {"name": "Nightly", "display_name": "Nightly", "target": "development", "retention_value": 7,
        "retention_unit": "day", "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00",
        "schedule_day": None, "schedule_week": None}
ANSWERS: dict[str, dict[str, Any]] = {
    "an existing policy's ID": {"id": PROD},
    "another retention": {"id": "bpnightly01", "retention_value": 2},
}


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
def test_the_creation_is_judged_on_what_planetscale_lists(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                          answer: dict[str, Any],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    production = dict(planetscale.policies[("acme", "app-db")][PROD])
    body = {**production, **SENT, **answer}
    planetscale.add_fault(Fault(method="POST", status=201, body=json.dumps(body), path_contains="backup-policies"))
    reply = approvals_bot.command(f"create acme/app-db {NIGHTLY}", user=ALICE)
    said = reply.all_text()
    assert "Something went wrong" not in said, said
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED, said
    assert request.policy_id != PROD
    assert not [e for m in reply.public for b in m.blocks for e in b.get("elements", [])
                if e.get("action_id") == REVERT], "a Revert offered for a creation PlanetScale does not show"
    swept_later(approvals_bot, 3600)  # past its lease: the sweep reads what PlanetScale lists
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and request.policy_id != PROD
    assert not [e for e in approvals_bot.audit.all() if e.action == "applied"], "recorded applied"
    assert planetscale.policies[("acme", "app-db")][PROD] == production
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
