"""A submitted form whose damaged value has no field to be answered beside: its view's `blocks` not a list, or
showing no input block at all. Not shapes Slack sends, so ignored with a line in the log, as every other such body
is (and refused at the HTTP door); they had got past the check, to a traceback and HTTP 500 in the middleware or
in the form's listener (`5.strip()`). Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from approval_helpers import approvals_bot
from conftest import ALICE, OPEN_RULES, Bot

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack_requests import state_values, view_submission_body
from bot.runtime.slack_shape import shape_problem

__all__ = ["approvals_bot"]  # a fixture, used by name

# The view's `blocks` in place of the form's own, beside a reason holding a number where text goes.
BLOCKS = {"blocks-a-number": 5, "blocks-an-object": {"type": "input"}, "no-blocks": None, "no-input-block": []}


@pytest.mark.parametrize("blocks", BLOCKS.values(), ids=BLOCKS.keys())
def test_ignored_in_the_log_not_a_traceback(approvals_bot: Bot, planetscale: PlanetScaleState,
                                            caplog: pytest.LogCaptureFixture, blocks: Any) -> None:
    bot = approvals_bot
    bot.use_rules(OPEN_RULES)
    bot.command("edit acme/app-db bp03devday")
    form = bot.current_view()
    values = {**state_values(form, {"retention_value": "9"}),
              "reason": {"reason": {"type": "plain_text_input", "value": 5}}}
    view = {key: value for key, value in form.items() if key != "blocks"}
    body = view_submission_body(user_id=ALICE, user_name=bot.slack.users[ALICE].name,
                                view={**view, "blocks": blocks}, values=values)
    with caplog.at_level(logging.WARNING):
        reply = bot.send(body)
    assert reply.response.status == 200, reply.response.body
    assert any("not of a shape Slack sends" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert planetscale.calls("PATCH") == []
    assert shape_problem(body, "application/x-www-form-urlencoded") is not None, "the HTTP door lets it in"
