"""The Slack emulator refuses what Slack refuses, answering as Slack does: each published Block Kit limit, at
the limit (taken) and one past it (refused with the JSON pointer of the part at fault)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import BOT_TOKEN, CHANNEL

from bot.emulators.block_kit import ack_problems, blocks_problems, check_message, view_problems
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def button(**values: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain("Go"), "action_id": "go", **values}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def option(text: str = "One", value: str = "1") -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def select(**values: Any) -> dict[str, Any]:
    return {"type": "input", "block_id": "pick", "label": plain("Pick"),
            "element": {"type": "static_select", "action_id": "pick", "options": [option()], **values}}


def confirm(**values: Any) -> dict[str, Any]:
    return button(confirm={"title": plain("Sure?"), "text": mrkdwn("Really."), "confirm": plain("Yes"),
                           "deny": plain("No"), **values})


# (what, blocks at the limit, the same one past it, the pointer Slack names)
BLOCK_LIMITS: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], str]] = [
    ("section text", [section("x" * 3000)], [section("x" * 3001)], "/blocks/0/text/text"),
    ("escapes count as sent", [section("&amp;" * 600)], [section("&amp;" * 600 + "x")], "/blocks/0/text/text"),
    ("fields", [{"type": "section", "fields": [mrkdwn("f")] * 10}],
     [{"type": "section", "fields": [mrkdwn("f")] * 11}], "/blocks/0/fields"),
    ("field text", [{"type": "section", "fields": [mrkdwn("x" * 2000)]}],
     [{"type": "section", "fields": [mrkdwn("x" * 2001)]}], "/blocks/0/fields/0/text"),
    ("header text", [{"type": "header", "text": plain("x" * 150)}], [{"type": "header", "text": plain("x" * 151)}],
     "/blocks/0/text/text"),
    ("context elements", [{"type": "context", "elements": [mrkdwn("c")] * 10}],
     [{"type": "context", "elements": [mrkdwn("c")] * 11}], "/blocks/0/elements"),
    ("context text", [{"type": "context", "elements": [mrkdwn("x" * 3000)]}],
     [{"type": "context", "elements": [mrkdwn("x" * 3001)]}], "/blocks/0/elements/0/text"),
    ("blocks in a message", [section("s")] * 50, [section("s")] * 51, "/blocks"),
    ("button text", [actions(button(text=plain("x" * 75)))], [actions(button(text=plain("x" * 76)))],
     "/blocks/0/elements/0/text/text"),
    ("button value", [actions(button(value="v" * 2000))], [actions(button(value="v" * 2001))],
     "/blocks/0/elements/0/value"),
    ("action_id", [actions(button(action_id="a" * 255))], [actions(button(action_id="a" * 256))],
     "/blocks/0/elements/0/action_id"),
    ("block_id", [{**section("s"), "block_id": "b" * 255}], [{**section("s"), "block_id": "b" * 256}],
     "/blocks/0/block_id"),
    ("confirm title", [actions(confirm(title=plain("x" * 100)))], [actions(confirm(title=plain("x" * 101)))],
     "/blocks/0/elements/0/confirm/title/text"),
    ("confirm text", [actions(confirm(text=mrkdwn("x" * 300)))], [actions(confirm(text=mrkdwn("x" * 301)))],
     "/blocks/0/elements/0/confirm/text/text"),
    ("confirm button", [actions(confirm(deny=plain("x" * 30)))], [actions(confirm(deny=plain("x" * 31)))],
     "/blocks/0/elements/0/confirm/deny/text"),
    ("option text", [select(options=[option(text="x" * 75)])], [select(options=[option(text="x" * 76)])],
     "/blocks/0/element/options/0/text/text"),
    ("option value", [select(options=[option(value="v" * 150)])], [select(options=[option(value="v" * 151)])],
     "/blocks/0/element/options/0/value"),
    ("options", [select(options=[option(value=str(i)) for i in range(100)])],
     [select(options=[option(value=str(i)) for i in range(101)])], "/blocks/0/element/options"),
    ("placeholder", [select(placeholder=plain("x" * 150))], [select(placeholder=plain("x" * 151))],
     "/blocks/0/element/placeholder/text"),
    ("input label", [{**select(), "label": plain("x" * 2000)}], [{**select(), "label": plain("x" * 2001)}],
     "/blocks/0/label/text"),
]


@pytest.mark.parametrize(("what", "at_limit", "past_limit", "pointer"), BLOCK_LIMITS,
                         ids=[row[0] for row in BLOCK_LIMITS])
def test_each_block_limit_takes_the_limit_and_refuses_one_more(
    what: str, at_limit: list[dict[str, Any]], past_limit: list[dict[str, Any]], pointer: str
) -> None:
    assert blocks_problems(at_limit) == []
    problems = blocks_problems(past_limit)
    assert problems and all(p.endswith(f"[json-pointer:{pointer}]") for p in problems), problems


@pytest.mark.parametrize(("what", "blocks", "words"), [
    ("empty mrkdwn", [section("")], "must be more than 0 characters [json-pointer:/blocks/0/text/text]"),
    ("empty plain text", [{"type": "header", "text": plain("")}], "must be more than 0 characters"),
    ("a section with neither text nor fields", [{"type": "section"}], "must define either text or fields"),
    ("a text with no text", [{"type": "section", "text": {"type": "mrkdwn"}}],
     "missing required field: text [json-pointer:/blocks/0/text]"),
    ("mrkdwn where only plain text goes", [{"type": "header", "text": mrkdwn("h")}], "must be plain_text"),
    ("a duplicate block_id", [{**section("a"), "block_id": "b"}, {**section("c"), "block_id": "b"}],
     "duplicate block_id"),
    ("an unknown property", [{**section("a"), "colour": "red"}], "unexpected property 'colour'"),
    ("an unknown block", [{"type": "spreadsheet"}], "unsupported type: spreadsheet [json-pointer:/blocks/0/type]"),
    ("an initial option not among the options", [select(initial_option=option(value="9"))],
     "must match one of the options"),
])
def test_what_slack_refuses_beyond_lengths_is_named(what: str, blocks: list[dict[str, Any]], words: str) -> None:
    assert any(words in p for p in blocks_problems(blocks)), blocks_problems(blocks)


def modal(**values: Any) -> dict[str, Any]:
    return {"type": "modal", "title": plain("Title"), "blocks": [section("s")], **values}


@pytest.mark.parametrize(("at_limit", "past_limit", "pointer"), [
    (modal(title=plain("x" * 24)), modal(title=plain("x" * 25)), "/view/title/text"),
    (modal(submit=plain("x" * 24)), modal(submit=plain("x" * 25)), "/view/submit/text"),
    (modal(close=plain("x" * 24)), modal(close=plain("x" * 25)), "/view/close/text"),
    (modal(private_metadata="m" * 3000), modal(private_metadata="m" * 3001), "/view/private_metadata"),
    (modal(callback_id="c" * 255), modal(callback_id="c" * 256), "/view/callback_id"),
    (modal(blocks=[section("s")] * 100), modal(blocks=[section("s")] * 101), "/view/blocks"),
    (modal(blocks=[select()], submit=plain("Go")), modal(blocks=[select()]), "/view"),
])
def test_each_view_limit_takes_the_limit_and_refuses_one_more(
    at_limit: dict[str, Any], past_limit: dict[str, Any], pointer: str
) -> None:
    assert view_problems(at_limit) == []
    assert any(p.endswith(f"[json-pointer:{pointer}]") for p in view_problems(past_limit)), view_problems(past_limit)


def test_a_message_needs_text_or_blocks_and_its_text_has_a_limit() -> None:
    assert check_message("x" * 40000, None) is None
    assert (refused := check_message("x" * 40001, None)) is not None and refused.error == "msg_too_long"
    assert (refused := check_message("", [])) is not None and refused.error == "no_text"


def test_acks_are_checked_as_the_view_or_message_they_carry() -> None:
    assert ack_problems({"response_action": "update", "view": modal(title=plain("x" * 25))})
    assert ack_problems({"response_action": "push", "view": modal(private_metadata="m" * 3001)})
    assert ack_problems({"text": "t", "blocks": [section("")]})
    assert ack_problems({"response_action": "errors", "errors": {"name": "Give it a name."}}) == []
    assert ack_problems({}) == [] and ack_problems({"text": "fine"}) == []


@pytest.fixture
def slack_api(slack_server: tuple[SlackEmulator, BackgroundServer], slack: SlackState) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=slack_server[1].url, headers={"Authorization": f"Bearer {BOT_TOKEN}"}) as client:
        yield client


TOO_LONG = [section("x" * 3001)]


@pytest.mark.parametrize("method", ["chat.postMessage", "chat.postEphemeral"])
def test_the_emulator_answers_invalid_blocks_as_slack_does_and_shows_nothing(
    slack_api: httpx.Client, slack: SlackState, method: str
) -> None:
    answer = slack_api.post(f"/api/{method}", data={"channel": CHANNEL, "user": "U0ALICE001", "text": "t",
                                                    "blocks": json.dumps(TOO_LONG)})
    assert answer.status_code == 200
    assert answer.json() == {
        "ok": False, "error": "invalid_blocks",
        "errors": ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"],
        "response_metadata": {"messages": ["[ERROR] must be less than 3001 characters "
                                           "[json-pointer:/blocks/0/text/text]"]}}
    assert slack.events == [] and [where for where, _ in slack.refusals] == [method]


def test_chat_update_is_checked_the_same_way(slack_api: httpx.Client, slack: SlackState) -> None:
    posted = slack_api.post("/api/chat.postMessage", json={"channel": CHANNEL, "text": "t"}).json()
    answer = slack_api.post("/api/chat.update", json={"channel": CHANNEL, "ts": posted["ts"], "text": "t",
                                                      "blocks": [{"type": "section"}]}).json()
    assert answer["ok"] is False and answer["error"] == "invalid_blocks"
    assert [e.kind for e in slack.events] == ["message"]


def test_a_response_url_refuses_with_400_and_its_bare_error(slack_api: httpx.Client, slack: SlackState) -> None:
    answer = slack_api.post("/response/1", json={"text": "t", "blocks": TOO_LONG})
    assert (answer.status_code, answer.text) == (400, "invalid_blocks")
    assert slack.events == [] and slack.refusals[0][1]["errors"]


@pytest.mark.parametrize("method", ["views.open", "views.push", "views.update"])
def test_views_refuse_with_invalid_arguments_naming_the_part(
    slack_api: httpx.Client, slack: SlackState, method: str
) -> None:
    view = modal(private_metadata="m" * 3001)
    answer = slack_api.post(f"/api/{method}", json={"trigger_id": slack.new_trigger_id(), "view_id": "V1",
                                                     "view": view}).json()
    assert answer["ok"] is False and answer["error"] == "invalid_arguments"
    assert answer["errors"] == ["must be less than 3001 characters [json-pointer:/view/private_metadata]"]
    assert slack.events == []


def test_a_posted_message_with_more_than_12000_characters_of_block_text_is_refused_as_too_long(
    slack_api: httpx.Client, slack: SlackState
) -> None:
    at_limit = [section("x" * 3000) for _ in range(4)]
    over = [*at_limit, section("y")]
    taken = slack_api.post("/api/chat.postMessage", json={"channel": CHANNEL, "text": "t", "blocks": at_limit})
    assert taken.json()["ok"] is True
    refused = slack_api.post("/api/chat.postMessage", json={"channel": CHANNEL, "text": "t", "blocks": over}).json()
    assert refused == {"ok": False, "error": "msg_blocks_too_long"}
    updated = slack_api.post("/api/chat.update", json={"channel": CHANNEL, "ts": taken.json()["ts"], "text": "t",
                                                       "blocks": over}).json()
    assert updated["error"] == "msg_blocks_too_long"
    # A response URL takes it: the cumulative limit is chat.postMessage's and chat.update's.
    assert slack_api.post("/response/1", json={"text": "t", "blocks": over}).status_code == 200
