"""A form submitted with a field's value of a kind Slack does not send there (a number where text goes, an option
given as text or without its value, a select's answer where the form shows a text input): the whole request was
ignored as not of Slack's shape, and its empty ack closed the form, so the person's change vanished without a word.
Now the ack answers `response_action: errors` beside that field, the form stays open, and nothing is sent. The edit,
create and bulk forms, through Bolt's pipeline and the HTTP door's check, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import approvals_bot
from conftest import ALICE, OPEN_RULES, Bot

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack_requests import state_values, view_submission_body
from bot.runtime.slack_shape import shape_problem
from handlers.views.bulk_edit import POLICIES

__all__ = ["approvals_bot"]  # a fixture, used by name

OPTION = {"text": {"type": "plain_text", "text": "5"}, "value": "5"}
# block ID → what its element holds instead of what Slack sends there.
WRONG = {
    "number-for-text": ("retention_value", {"type": "plain_text_input", "value": 5}),
    "select-for-text": ("retention_value", {"type": "static_select", "selected_option": OPTION}),
    "option-as-text": ("retention_unit", {"type": "static_select", "selected_option": "day"}),
    "option-without-value": ("retention_unit", {"type": "static_select", "selected_option": {"text": "day"}}),
    "time-as-number": ("schedule_time", {"type": "timepicker", "selected_time": 200}),
    "element-as-text": ("retention_value", "5"),
    "block-as-list": ("retention_value", ["5"]),
}


def submitted(bot: Bot, view: dict[str, Any], values: dict[str, Any], block_id: str, wrong: Any) -> dict[str, Any]:
    values = {**values, block_id: wrong if isinstance(wrong, list) else {block_id: wrong}}
    body = view_submission_body(user_id=ALICE, user_name=bot.slack.users[ALICE].name, view=view, values=values)
    assert shape_problem(body, "application/x-www-form-urlencoded") is None, "the HTTP door turns it away"
    return bot.send(body).ack


def answered_beside(ack: dict[str, Any], block_id: str) -> None:
    assert ack.get("response_action") == "errors", ack
    assert "not the text or choice the form shows" in ack["errors"][block_id], ack


@pytest.mark.parametrize(("block_id", "wrong"), WRONG.values(), ids=WRONG.keys())
def test_the_edit_form(approvals_bot: Bot, planetscale: PlanetScaleState, block_id: str, wrong: Any) -> None:
    bot = approvals_bot
    bot.use_rules(OPEN_RULES)
    bot.command("edit acme/app-db bp03devday")
    form = bot.current_view()
    answered_beside(submitted(bot, form, state_values(form, {"retention_value": "9"}), block_id, wrong), block_id)
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize(("block_id", "wrong"), WRONG.values(), ids=WRONG.keys())
def test_the_create_form(approvals_bot: Bot, planetscale: PlanetScaleState, block_id: str, wrong: Any) -> None:
    bot = approvals_bot
    bot.use_rules(OPEN_RULES)
    bot.command("create acme/app-db")
    form = bot.current_view()
    answered_beside(submitted(bot, form, state_values(form, {"name": "Fresh one"}), block_id, wrong), block_id)
    assert planetscale.calls("POST") == []


@pytest.mark.parametrize(("block_id", "wrong"), WRONG.values(), ids=WRONG.keys())
def test_the_bulk_form(approvals_bot: Bot, planetscale: PlanetScaleState, block_id: str, wrong: Any) -> None:
    bot = approvals_bot
    bot.use_rules(OPEN_RULES)
    for name in ("odd-a", "odd-b"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-dev", name="Development daily", target="development")
    bot.command('edit acme/odd-* "Development *"')
    form = bot.current_view()
    values = state_values(form, {POLICIES: ["odd-a/odd-a-dev"], "retention_value": "21", "retention_unit": "day"})
    answered_beside(submitted(bot, form, values, block_id, wrong), block_id)
    assert planetscale.calls("PATCH") == [] and bot.deps.store.open_batches() == []


def test_a_block_the_form_does_not_show_is_answered_on_its_first_field(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.use_rules(OPEN_RULES)
    bot.command("edit acme/app-db bp03devday")
    form = bot.current_view()
    first = next(b["block_id"] for b in form["blocks"] if b["type"] == "input")
    ack = submitted(bot, form, state_values(form, {"retention_value": "9"}), "no_such_block", {"value": 7})
    answered_beside(ack, first)
    assert planetscale.calls("PATCH") == []
