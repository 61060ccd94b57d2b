"""A form whose reason or name holds a lone surrogate (JSON's `\\ud800`: a signed payload may carry one, no UTF-8
holds it), through Bolt's real pipeline on SQLite and PostgreSQL. The edit form's reason raised while the next
step was written, after the checks: Bolt logged a traceback and the person's form showed no words at all. Each
form now says, beside the field, which character to remove; nothing is asked or sent."""

from __future__ import annotations

import json

import pytest
from approval_helpers import approvals_bot
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState
from handlers.views.bulk_edit import BULK_FORM, POLICIES

__all__ = ["approvals_bot"]  # a fixture, used by name

TOLD = "Remove the broken character (U+D800"


@pytest.mark.parametrize("changes", [{"reason": "audit asks \ud800", "retention_value": "5"},
                                     {"name": "Development \ud800daily"}], ids=["reason", "name"])
def test_the_edit_form_tells_which_character_to_remove(bot: Bot, planetscale: PlanetScaleState,
                                                       caplog: pytest.LogCaptureFixture,
                                                       changes: dict[str, str]) -> None:
    bot.command("edit acme/app-db bp03devday")
    reply = bot.submit(bot.current_view(), changes)
    field = next(iter(changes))
    assert reply.ack.get("response_action") == "errors", reply.ack
    assert reply.ack["errors"][field].startswith(TOLD), reply.ack
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert planetscale.calls("PATCH") == []


def test_the_bulk_form_tells_which_character_to_remove(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    for name in ("odd-a", "odd-b"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    approvals_bot.command('edit acme/odd-* "Production *"')
    form = approvals_bot.current_view()
    assert form["callback_id"] == BULK_FORM
    reply = approvals_bot.submit(form, {POLICIES: ["odd-a/odd-a-prod"], "retention_value": "21",
                                        "retention_unit": "day", "reason": "audit \ud800"})
    assert reply.ack.get("response_action") == "errors", json.dumps(reply.ack)
    assert reply.ack["errors"]["reason"].startswith(TOLD), reply.ack
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert planetscale.calls("PATCH") == []
