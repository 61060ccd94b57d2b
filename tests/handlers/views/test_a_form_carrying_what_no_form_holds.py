"""A form's private metadata carrying a channel no Slack ID is (NUL, past the store's 32 characters) or a reason the
form's own field refuses (NUL, past its length), as a signed payload may, through Bolt's real pipeline on SQLite
and PostgreSQL. The confirm steps of the edit and create forms, and the bulk form, took them as written: on
PostgreSQL the request's first write raised after the ack (a traceback, 'Something went wrong'); elsewhere the
change was sent with a reason of 10,000 characters or an odd channel stored. Each form is now told damaged, and
nothing is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from approval_helpers import approvals_bot
from conftest import OPEN_RULES, Bot

from bot.emulators.planetscale import PlanetScaleState
from handlers.views.bulk_edit import POLICIES

__all__ = ["approvals_bot"]  # a fixture, used by name

CARRIED = {"channel-nul": ("channel", "C0DBAOPS01\x00"), "channel-long": ("channel", "C" * 40),
           "reason-nul": ("reason", "audit\x00asks"), "reason-long": ("reason", "x" * 10_000)}


def carrying(view: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    metadata = json.loads(view["private_metadata"])
    metadata[field] = value
    return {**view, "private_metadata": json.dumps(metadata)}


def told_damaged(reply: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert "This form is damaged" in json.dumps(reply.ack), reply.ack
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Something went wrong" not in reply.all_text()


@pytest.mark.parametrize(("field", "value"), CARRIED.values(), ids=CARRIED.keys())
def test_the_edit_forms_confirm_step(approvals_bot: Bot, planetscale: PlanetScaleState,
                                     caplog: pytest.LogCaptureFixture, field: str, value: str) -> None:
    approvals_bot.use_rules(OPEN_RULES)
    approvals_bot.command("edit acme/app-db bp03devday")
    form = approvals_bot.current_view()
    confirm = approvals_bot.submit(form, {"retention_value": "5"}).ack["view"]
    # The ack's view is the form's next step: Slack keeps the form's ID and type.
    reply = approvals_bot.submit(carrying({**confirm, "id": form["id"], "type": "modal"}, field, value))
    told_damaged(reply, caplog)
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize(("field", "value"), CARRIED.values(), ids=CARRIED.keys())
def test_the_create_forms_confirm_step(approvals_bot: Bot, planetscale: PlanetScaleState,
                                       caplog: pytest.LogCaptureFixture, field: str, value: str) -> None:
    approvals_bot.use_rules(OPEN_RULES)
    approvals_bot.command("create acme/app-db")
    approvals_bot.submit(approvals_bot.current_view(), {"name": "Fresh one"})
    reply = approvals_bot.submit(carrying(approvals_bot.current_view(), field, value))
    told_damaged(reply, caplog)
    assert planetscale.calls("POST") == []


@pytest.mark.parametrize("channel", ["C0DBAOPS01\x00", "C" * 40], ids=["nul", "long"])
def test_the_bulk_form(approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture,
                       channel: str) -> None:
    approvals_bot.use_rules(OPEN_RULES)
    for name in ("odd-a", "odd-b"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-dev", name="Development daily", target="development")
    approvals_bot.command('edit acme/odd-* "Development *"')
    reply = approvals_bot.submit(carrying(approvals_bot.current_view(), "channel", channel),
                                 {POLICIES: ["odd-a/odd-a-dev"], "retention_value": "21", "retention_unit": "day"})
    told_damaged(reply, caplog)
    assert planetscale.calls("PATCH") == []
