"""The bulk form's policies are a list the form offers (those its glob names); a submission carrying a choice the
list never offered (another database's policy, or an ID that is not there), as a signed payload may, was taken
as written: `edit acme/app-* *` changed a policy of billing-db in PlanetScale. Such a form is now answered on its
own field, naming the choice and how to go on, and nothing is sent. Through Bolt on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from approval_helpers import approvals_bot
from conftest import OPEN_RULES, Bot

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack_requests import state_values, view_submission_body
from handlers.views.bulk_edit import POLICIES

__all__ = ["approvals_bot"]  # a fixture, used by name

NOT_OFFERED = {"another-database": ["billing-db/bp04billing"],
               "beside-offered-ones": ["app-db/bp03devday", "billing-db/bp04billing"],
               "an-id-not-there": ["app-db/bp99gone"]}


def option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


@pytest.mark.parametrize("chosen", NOT_OFFERED.values(), ids=NOT_OFFERED.keys())
def test_a_choice_the_form_never_offered_is_refused_on_the_form(
        approvals_bot: Bot, planetscale: PlanetScaleState, chosen: list[str]) -> None:
    approvals_bot.use_rules(OPEN_RULES)
    approvals_bot.command("edit acme/app-* *")
    form = approvals_bot.current_view()
    values = state_values(form, {"retention_value": "4", "retention_unit": "day"})
    values[POLICIES][POLICIES]["selected_options"] = [option(value) for value in chosen]
    cursor = len(approvals_bot.slack.events)
    reply = approvals_bot.send(view_submission_body(user_id="U0ALICE001", user_name="alice", view=form,
                                                    values=values))
    assert reply.ack.get("response_action") == "errors", reply.ack
    said = reply.ack["errors"][POLICIES]
    assert chosen[-1] in said and "not one this form offers" in said and "open it again" in said, said
    assert [c for c in planetscale.calls() if c.method != "GET"] == []
    assert [e for e in approvals_bot.slack.events[cursor:] if e.kind == "message"] == []


def test_the_offered_choices_are_still_asked(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(OPEN_RULES)
    approvals_bot.command("edit acme/app-* *")
    approvals_bot.submit(approvals_bot.current_view(),
                         {POLICIES: ["app-db/bp03devday"], "retention_value": "4", "retention_unit": "day"})
    said = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == ["bp03devday"], said
