"""A name longer than PlanetScale takes (MAX_NAME_LENGTH, 255 characters) typed into the edit or create form: Slack's
input stops at 255, but a payload can carry any length. 255 is previewed and sent; 256 and 10,000 are answered
beside the name field (response_action errors) naming the limit and the length, and nothing reaches PlanetScale.
Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.policy import MAX_NAME_LENGTH
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"


def edit_form(bot: Bot) -> dict[str, object]:
    bot.command(f"edit acme/app-db {DEV}", user=ALICE)
    return bot.current_view()


def create_form(bot: Bot) -> dict[str, object]:
    bot.command("create acme/app-db", user=ALICE)
    return bot.current_view()


def test_a_name_of_255_characters_is_previewed_and_sent(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    name = "N" * MAX_NAME_LENGTH
    form = edit_form(approvals_bot)
    preview = approvals_bot.submit(form, {"name": name}, user=ALICE)
    assert preview.ack["response_action"] == "update", preview.ack
    confirm = preview.ack["view"]
    confirm["id"] = form["id"]  # Slack keeps the view's ID across response_action: update
    approvals_bot.submit(confirm, {}, user=ALICE)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"name": name}]


@pytest.mark.parametrize("length", [MAX_NAME_LENGTH + 1, 10_000])
@pytest.mark.parametrize("form", ["edit", "create"])
def test_a_longer_name_is_answered_beside_the_field_and_nothing_is_sent(
    approvals_bot: Bot, planetscale: PlanetScaleState, length: int, form: str
) -> None:
    view = edit_form(approvals_bot) if form == "edit" else create_form(approvals_bot)
    before = len(planetscale.calls())
    reply = approvals_bot.submit(view, {"name": "N" * length}, user=ALICE)
    assert reply.ack["response_action"] == "errors", reply.ack
    said = reply.ack["errors"]["name"]
    assert f"At most {MAX_NAME_LENGTH} characters" in said and f"this is {length:,}" in said, said
    assert len(json.dumps(reply.ack)) < 3_000  # the error does not echo the name back
    assert planetscale.calls()[before:] == [], "the form's submission reached PlanetScale"
    assert planetscale.calls("PATCH") == [] and planetscale.calls("POST") == []
