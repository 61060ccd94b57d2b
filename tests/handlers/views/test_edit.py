"""The edit modal through Bolt with real-shaped view_submission and block_actions payloads."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from access_rules import STRICT_BEFORE_OPEN, by_target
from conftest import SIGNING_SECRET, Bot, acked_while
from slack_bolt import BoltRequest

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack_requests import block_actions_body, signed_headers, state_values
from handlers.blocks import EDIT

DEV, PROD = "bp03devday", "bp01prod12h"


def open_form(bot: Bot, policy: str = DEV, user: str = "U0ALICE001") -> dict[str, Any]:
    bot.command(f"edit acme/app-db {policy}", user=user)
    return bot.current_view()


def initial(view: dict[str, Any], block_id: str) -> Any:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    element = block["element"]
    return (element.get("initial_value") or element.get("initial_time") or
            (element.get("initial_option") or {}).get("value"))


def test_edit_opens_a_loading_view_at_once_and_fills_it_with_the_current_values(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    view = open_form(bot)
    kinds = [e.kind for e in bot.slack.events]
    assert kinds == ["view_open", "view_update"]
    assert "Reading the policy" in json.dumps(bot.slack.events[0].view)
    assert view["callback_id"] == "policy_edit_form"
    assert [initial(view, b) for b in ("name", "target", "retention_value", "retention_unit", "frequency_value",
                                       "frequency_unit", "schedule_time")] == [
        "Development daily", "development", "3", "day", "1", "day", "04:30"]
    blocks = [b.get("block_id") for b in view["blocks"]]
    assert "schedule_day" not in blocks and "schedule_week" not in blocks  # a daily backup has neither
    metadata = json.loads(view["private_metadata"])
    assert metadata["policy"]["id"] == DEV and "token" not in view["private_metadata"].lower()
    assert planetscale.calls("PATCH") == []


def test_the_modal_opens_inside_the_trigger_window_while_planetscale_is_slow(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    answering = threading.Event()
    planetscale.add_fault(Fault(until=answering, method="GET"))
    body = bot.command_body(f"edit acme/app-db {DEV}")
    try:
        response = acked_while(lambda: bot.app.dispatch(
            BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body))))
        assert response.status == 200
        # The form opens right after the ack: the loading view, while PlanetScale thinks.
        for _ in range(1000):
            if bot.slack.events:
                break
            time.sleep(0.01)
        assert [e.kind for e in bot.slack.events] == ["view_open"]
    finally:
        answering.set()
    assert bot.executor.wait_idle(30)
    assert bot.current_view()["callback_id"] == "policy_edit_form"


def test_changing_only_retention_sends_only_retention_after_a_preview(bot: Bot, planetscale: PlanetScaleState) -> None:
    form = open_form(bot)
    preview = bot.submit(form, {"retention_value": "5", "reason": "more history"})
    assert preview.ack["response_action"] == "update"
    confirm = preview.ack["view"]
    assert confirm["callback_id"] == "policy_edit_confirm"
    assert "~3 days~ → *5 days*" in json.dumps(confirm, ensure_ascii=False)
    assert planetscale.calls("PATCH") == []
    confirm["id"] = form["id"]  # Slack keeps the view's ID across response_action: update
    done = bot.submit(confirm, {})
    assert done.ack["response_action"] == "update"
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 5}]
    assert "posted in the channel" in json.dumps(bot.current_view())
    [posted] = [e for e in bot.slack.events if e.kind == "message"]
    assert "more history" in json.dumps(posted.blocks)


@pytest.mark.parametrize(("changes", "block", "words"), [
    ({"retention_value": "-3"}, "retention_value", "at least 1"),
    ({"retention_value": "lots"}, "retention_value", "whole number"),
    ({"name": "   "}, "name", "Give the policy a name"),
    ({"retention_unit": "minute"}, "retention_unit", "Choose one of the options"),
    ({"schedule_time": "25:00"}, "schedule_time", "Pick a time"),
    ({}, "name", "Nothing changed"),
    ({"retention_value": "2", "retention_unit": "hour"}, "retention_value", "kept 2 hours but taken every day"),
    ({"frequency_unit": "week"}, "frequency_unit", "needs a day"),
])
def test_bad_submissions_are_answered_inline_and_send_nothing(
    bot: Bot, planetscale: PlanetScaleState, changes: dict[str, Any], block: str, words: str
) -> None:
    form = open_form(bot)
    reply = bot.submit(form, changes)
    assert reply.ack["response_action"] == "errors"
    assert words in reply.ack["errors"][block], reply.ack
    assert planetscale.calls("PATCH") == []


def test_the_frequency_unit_shows_day_and_week_when_they_apply(bot: Bot, planetscale: PlanetScaleState) -> None:
    form = open_form(bot)
    values = state_values(form, {"frequency_unit": "month"})
    body = block_actions_body(
        user_id="U0ALICE001", user_name="alice", channel_id="C0DBAOPS01", response_url="", trigger_id="1.x",
        view={**form, "state": {"values": values}},
        action={"type": "static_select", "action_id": "frequency_unit", "block_id": "frequency_unit",
                "selected_option": {"value": "month", "text": {"type": "plain_text", "text": "months"}}})
    bot.send(body)
    updated = bot.current_view()
    assert [b.get("block_id") for b in updated["blocks"] if b.get("block_id", "").startswith("schedule_")] == [
        "schedule_time", "schedule_day", "schedule_week"]
    assert initial(updated, "frequency_unit") == "month"
    filled = bot.submit(updated, {"schedule_day": "1", "schedule_week": "0", "retention_value": "1",
                                  "retention_unit": "year"})
    assert filled.ack["response_action"] == "update"


def test_a_policy_changed_meanwhile_is_not_overwritten_and_the_form_comes_back_fresh(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    form = open_form(bot)
    confirm = bot.submit(form, {"retention_value": "5"}).ack["view"]
    planetscale.policies[("acme", "app-db")][DEV]["retention_value"] = 10
    confirm["id"] = form["id"]
    bot.submit(confirm, {})
    assert planetscale.calls("PATCH") == []
    fresh = bot.current_view()
    assert fresh["callback_id"] == "policy_edit_form" and initial(fresh, "retention_value") == "10"
    assert "changed in PlanetScale after you opened the form" in json.dumps(fresh)


def test_the_edit_button_on_show_opens_the_form(bot: Bot, planetscale: PlanetScaleState) -> None:
    shown = bot.command(f"show acme/app-db {DEV}")
    button = next(e for b in shown.private[0].blocks for e in b.get("elements", []) if e.get("action_id") == EDIT)
    bot.click(EDIT, button["value"])
    assert bot.current_view()["callback_id"] == "policy_edit_form"


def test_someone_no_rule_names_gets_a_refusal_in_the_modal_and_nothing_is_read(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    open_form(bot, user="U0DAVE0001")
    assert "not named" in json.dumps(bot.current_view())
    assert planetscale.calls() == []


def test_tampered_metadata_and_forged_buttons_are_refused(bot: Bot, planetscale: PlanetScaleState) -> None:
    form = open_form(bot)
    reply = bot.submit({**form, "private_metadata": '{"organization": "../x"}'}, {"retention_value": "5"})
    assert reply.ack == {"response_action": "errors", "errors": {
        "name": "This form is damaged; close it and open it again."}}
    bot.click(EDIT, "acme/../etc")
    assert planetscale.calls("PATCH") == []


def test_a_trigger_id_is_used_once(bot: Bot) -> None:
    bot.command(f"edit acme/app-db {DEV}")
    trigger = next(args for args in bot.slack.method_calls("views.open"))["trigger_id"]
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token="xoxb-test-0000-bot-token", base_url=bot.slack_url + "/api/")
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):
        client.views_open(trigger_id=trigger, view={"type": "modal", "title": {"type": "plain_text", "text": "x"},
                                                    "blocks": []})


def test_the_preview_says_when_a_move_to_production_needs_approval(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.use_rules(by_target(production=(["U0ALICE001"], ["U0CAROL001"], 1), development=(["U0ALICE001"], [], 0)))
    form = open_form(bot)
    assert bot.submit(form, {"retention_value": "5"}).ack["view"]["submit"]["text"] == "Apply"
    moved = bot.submit(form, {"target": "production"}).ack["view"]
    assert moved["submit"]["text"] == "Request approval" and "needs 1 approval" in json.dumps(moved)


def test_the_edit_button_judges_a_database_with_capitals_by_its_own_rule(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.use_rules(STRICT_BEFORE_OPEN)
    bot.click(EDIT, f"acme/App-DB/{DEV}")
    refused = json.dumps(bot.current_view())
    # rule 1 names carol alone (the open rule 2 would let alice): refused by it, on the record; told to alice,
    # who may read its policies in no channel, as a policy nobody holds
    assert "No backup policy" in refused and "policy_edit_form" not in refused, refused
    [record] = [e for e in bot.audit.all() if e.action == "refused"]
    assert "rule 1" in (record.detail or "")
    bot.click(EDIT, f"ACME/App-DB/{DEV}", user="U0CAROL001")
    form = bot.current_view()
    assert form["callback_id"] == "policy_edit_form"
    assert json.loads(form["private_metadata"])["database"] == "app-db"
    bot.click(EDIT, f"acme/app-db\n/{DEV}")  # not a value this bot made: told so, nothing read
    assert "names no policy this bot can open" in json.dumps(bot.current_view())


@pytest.mark.parametrize(("typed", "words"), [
    ("--5", "whole number"), ("+-5", "whole number"), ("5.5", "whole number"), ("1e3", "whole number"),
    ("٣", "whole number"), ("²", "whole number"), ("   ", "whole number"), ("5 5", "whole number"),
    ("0x10", "whole number"), ("", "whole number"), ("-5", "at least 1"), ("0", "at least 1"), ("-0", "at least 1"),
    ("2147483648", "at most 2147483647"), ("9" * 5000, "at most 2147483647"), ("-" + "9" * 5000, "at least 1"),
])
def test_a_number_field_with_anything_but_a_whole_number_gets_an_inline_error(
    bot: Bot, planetscale: PlanetScaleState, typed: str, words: str
) -> None:
    form = open_form(bot)
    reply = bot.submit(form, {"retention_value": typed, "frequency_value": typed})
    assert reply.response.status == 200
    assert reply.ack["response_action"] == "errors"
    assert words in reply.ack["errors"]["retention_value"] and words in reply.ack["errors"]["frequency_value"]
    assert planetscale.calls("PATCH") == []


def test_number_fields_accept_a_plus_sign_leading_zeros_and_surrounding_spaces(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    form = open_form(bot)
    preview = bot.submit(form, {"retention_value": " +0007 "})
    assert preview.ack["response_action"] == "update", preview.ack
    assert json.loads(preview.ack["view"]["private_metadata"])["update"] == {"retention_value": 7}


@pytest.mark.parametrize(("block", "typed"), [
    ("reason", "audit \x1b[31masks\x1b[0m"), ("reason", "two\tcolumns"), ("name", "Dev\x07daily"),
    ("name", "Dev\x9bdaily"),
])
def test_control_characters_in_the_forms_text_are_refused_beside_the_field(
    bot: Bot, planetscale: PlanetScaleState, block: str, typed: str
) -> None:
    form = open_form(bot)
    reply = bot.submit(form, {"retention_value": "5", block: typed})
    assert reply.ack["response_action"] == "errors"
    assert "Remove the control character" in reply.ack["errors"][block]
    assert planetscale.calls("PATCH") == []


def test_the_ack_does_not_wait_for_a_slow_views_open_and_the_form_still_opens(bot: Bot) -> None:
    from bot.emulators.slack import MethodFault

    # Slack holds views.open until the ack is back: an ack that waited for it would be held as long.
    slack_answers = threading.Event()
    bot.slack.add_fault(MethodFault(method="views.open", until=slack_answers))
    body = bot.command_body(f"edit acme/app-db {DEV}")
    try:
        response = bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))
        assert response.status == 200
        assert [e.kind for e in bot.slack.events] == []  # acked while Slack still held views.open
    finally:
        slack_answers.set()
    assert bot.executor.wait_idle(60)
    assert bot.current_view()["callback_id"] == "policy_edit_form"


@pytest.mark.parametrize("fault", [{"error": "internal_error"}, {"status": 429, "retry_after": 2, "times": None}])
def test_a_refused_views_open_is_told_to_the_person(bot: Bot, planetscale: PlanetScaleState,
                                                    fault: dict[str, Any]) -> None:
    from bot.emulators.slack import MethodFault

    bot.slack.add_fault(MethodFault(method="views.open", **fault))
    reply = bot.command(f"edit acme/app-db {DEV}")
    [told] = reply.private
    assert "did not open the form" in told.text and f"/backup-policy edit acme/app-db {DEV}" in told.text
    assert planetscale.calls() == []


def test_an_invisible_character_in_the_forms_name_is_refused_beside_the_field(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    form = open_form(bot)
    reply = bot.submit(form, {"name": "Development\u200b daily"})
    assert reply.ack["response_action"] == "errors" and "U+200B" in reply.ack["errors"]["name"]
    assert planetscale.calls("PATCH") == []


def test_create_with_no_settings_opens_the_form_previews_its_cost_and_creates_it(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.command("create acme/app-db")
    form = bot.current_view()
    assert form["callback_id"] == "policy_create_form"
    assert initial(form, "name") is None and planetscale.calls() == []
    empty = bot.submit(form, {"name": ""})
    assert empty.ack["response_action"] == "errors" and "name" in empty.ack["errors"]
    checking = bot.submit(form, {"name": "Nightly", "retention_value": "14", "reason": "more history"})
    assert checking.ack["response_action"] == "update"
    confirm = bot.current_view()
    assert confirm["callback_id"] == "policy_create_confirm" and planetscale.calls("POST") == []
    shown = json.dumps(confirm)
    assert "Kept at once:* none \\u2192 14 backups" in shown and "Estimated storage" in shown
    bot.submit(confirm, {})
    assert [c.body["name"] for c in planetscale.calls("POST")] == ["Nightly"]
    assert "posted in the channel" in json.dumps(bot.current_view())


def test_the_create_form_refuses_a_taken_name_before_anything_is_sent(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot.command("create acme/app-db")
    bot.submit(bot.current_view(), {"name": "Development daily"})
    assert "already has a policy named" in json.dumps(bot.current_view(), ensure_ascii=False)
    assert planetscale.calls("POST") == []


def test_the_edit_forms_preview_says_what_the_change_costs(bot: Bot, planetscale: PlanetScaleState) -> None:
    form = open_form(bot)
    confirm = bot.submit(form, {"retention_value": "6"}).ack["view"]
    shown = json.dumps(confirm)
    # Daily backups of 1.25 GB, kept 3 then 6 days; the estimate was read when the form was filled.
    assert "Kept at once:* 3 backups \\u2192 6 backups" in shown
    assert "Estimated storage:* 3.8 GB \\u2192 7.5 GB" in shown
    moved = bot.submit(form, {"target": "production"}).ack["view"]
    assert "not estimated" in json.dumps(moved)  # the other target's backups are read when it is asked
