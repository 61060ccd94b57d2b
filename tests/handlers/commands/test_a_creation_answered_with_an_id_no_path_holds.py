"""PlanetScale answering a creation's POST with a policy whose ID no path segment holds (10,000 characters, a NUL,
a lone surrogate), through Bolt's real pipeline on SQLite and PostgreSQL. The result's message offered an Edit
button carrying the ID, past the 2,000 characters Slack lets a button's value hold: building it raised after the
policy was created (a traceback, 'Something went wrong; nothing more was done'), the result was never posted, and
each sweep failed on it again. The message is posted without an Edit button: no change can name such an ID."""

from __future__ import annotations

import json

import pytest
from approval_helpers import approvals_bot, swept_later
from conftest import OPEN_RULES, Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import EDIT

__all__ = ["approvals_bot"]  # a fixture, used by name

NIGHTLY = 'name="Nightly" target=development retention=7d frequency=1d at=02:00'
IDS = {"long": "b" * 10_000, "nul": "bp\x00x", "surrogate": "bp\ud800"}


@pytest.mark.parametrize("policy_id", IDS.values(), ids=IDS.keys())
def test_the_creation_is_posted_without_an_edit_button(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                       caplog: pytest.LogCaptureFixture, policy_id: str) -> None:
    approvals_bot.use_rules(OPEN_RULES)
    created = {**planetscale.policies[("acme", "app-db")]["bp03devday"], "id": policy_id, "name": "Nightly",
               "display_name": "Nightly", "retention_value": 7, "schedule_time": "02:00"}  # what NIGHTLY sends
    planetscale.add_fault(Fault(method="POST", status=201, body=json.dumps(created), path_contains="backup-policies"))
    reply = approvals_bot.command(f"create acme/app-db {NIGHTLY}")
    assert "Something went wrong" not in reply.all_text()
    [posted] = reply.public
    assert "created the backup policy *Nightly*" in json.dumps(posted.blocks)
    assert not [e for b in posted.blocks for e in b.get("elements", []) if e.get("action_id") == EDIT]
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED and request.message_ts == posted.ts
    swept_later(approvals_bot, 3600)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
