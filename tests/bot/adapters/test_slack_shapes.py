"""The verdicts on Slack's `ok` answers (bot/adapters/slack_shapes.py), method by method: what the bot reads must be
of its exact type (a number or a boolean is not taken for a string, an object or a string for a list); a field
it does not read, or one that may be missing, may be missing or anything. Through Bolt, what an unreadable answer
does is in tests/handlers/commands/test_slack_bad_answers.py and tests/handlers/test_slack_bad_history.py."""

from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.slack_shapes import ACTS, READS, readable

USER = {"id": "U0ALICE001", "profile": {"email": "alice@acme.example"}}
GROUP = {"id": "S0DBATEAM1", "handle": "dba-team", "users": ["U0BOB00001"]}
POSTED = {"ts": "1700000000.000100", "channel": "C0DBAOPS01"}

READABLE: list[tuple[str, Any]] = [
    ("users.info", {"user": USER}),
    ("users.info", {"user": {"id": "U0ALICE001", "profile": {}, "name": "alice"}}),
    ("users.info", {"user": {"id": "U0ALICE001", "profile": {"email": None}}}),
    ("usergroups.list", {"usergroups": []}),
    ("usergroups.list", {"usergroups": [GROUP, {**GROUP, "users": [], "name": 5}]}),
    # Each group is read on its own (slack_directory): one of another shape is that group's failure alone.
    ("usergroups.list", {"usergroups": [{**GROUP, "handle": 5}]}),
    ("usergroups.list", {"usergroups": [{**GROUP, "users": {"U0BOB00001": "U0BOB00001"}}]}),
    ("usergroups.list", {"usergroups": [{**GROUP, "users": ["U0BOB00001", 5]}]}),
    ("usergroups.users.list", {"users": ["U0BOB00001"]}),
    ("conversations.history", {"messages": []}),
    ("conversations.history", {"messages": [{}, {"ts": "1.000001", "metadata": None}], "response_metadata": None}),
    ("conversations.replies", {"messages": [{"ts": "1.000001", "metadata": {"event_payload": {"n": 1}}}],
                               "response_metadata": {"next_cursor": None}}),
    ("conversations.replies", {"messages": [{"metadata": {"event_payload": None}}],
                               "response_metadata": {"next_cursor": "bmV4dA=="}}),
    ("conversations.info", {"channel": {"id": "C0DBAOPS01", "name": 7}}),
    ("conversations.open", {"channel": {"id": "D0ALICE001"}}),
    ("auth.test", {"user_id": "U0BOT00001", "team_id": "T0ACME0001"}),
    ("apps.connections.open", {"url": "wss://wss-primary.slack.com/link/?ticket=1"}),
    ("chat.postMessage", POSTED),
    ("chat.update", {**POSTED, "text": None}),
    ("views.open", {"view": {"id": "V0000000001"}}),
    ("views.push", {"view": {"id": "V0000000001", "type": "modal"}}),
    ("views.update", {"view": {"id": "V0000000001"}}),
    ("views.publish", {"view": 5}),  # a method whose answer the bot does not read
]

UNREADABLE: list[tuple[str, Any]] = [
    ("users.info", {}),
    ("users.info", {"user": {"id": 7, "profile": {}}}),
    ("users.info", {"user": {"id": "U0ALICE001"}}),
    ("users.info", {"user": {"id": "U0ALICE001", "profile": None}}),
    ("users.info", {"user": {"id": "U0ALICE001", "profile": {"email": 12}}}),
    ("users.info", {"user": {"id": "U0ALICE001", "profile": {"email": True}}}),
    ("usergroups.list", {"usergroups": {"0": GROUP}}),
    ("usergroups.list", {"usergroups": [GROUP, None]}),
    ("usergroups.users.list", {"users": {"U0BOB00001": "U0BOB00001"}}),
    ("usergroups.users.list", {"users": "U0BOB00001"}),
    ("usergroups.users.list", {"users": ["U0BOB00001", 5]}),
    ("usergroups.users.list", {"users": [True]}),
    ("conversations.history", {}),
    ("conversations.history", {"messages": None}),
    ("conversations.history", {"messages": [{"ts": 1.000001}]}),
    ("conversations.history", {"messages": [{"ts": None}]}),
    ("conversations.history", {"messages": [{"metadata": {"event_payload": ["id"]}}]}),
    ("conversations.history", {"messages": [], "response_metadata": {"next_cursor": 5}}),
    ("conversations.replies", {"messages": [], "response_metadata": []}),
    ("conversations.info", {"channel": "C0DBAOPS01"}),
    ("conversations.open", {"channel": {"id": None}}),
    ("auth.test", {"user_id": "U0BOT00001"}),
    ("apps.connections.open", {}),
    ("apps.connections.open", {"url": 5}),
    ("apps.connections.open", {"url": "https://example.com/socket"}),
    ("auth.test", {"user_id": "U0BOT00001", "team_id": 1}),
    ("chat.postMessage", {**POSTED, "ts": 1700000000.0001}),
    ("chat.postMessage", {**POSTED, "ts": 1700000000}),
    ("chat.postMessage", {**POSTED, "channel": {"id": "C0DBAOPS01"}}),
    ("chat.update", {**POSTED, "ts": True}),
    ("views.open", {"view": "V0000000001"}),
    ("views.push", {"view": {"id": 5}}),
    ("views.update", {}),
]


@pytest.mark.parametrize(("method", "fields"), READABLE)
def test_an_ok_answer_with_the_fields_used_is_readable(method: str, fields: dict[str, Any]) -> None:
    assert readable(method, {"ok": True, **fields})


@pytest.mark.parametrize(("method", "fields"), UNREADABLE)
def test_an_ok_answer_with_a_field_used_of_another_type_or_missing_is_unreadable(
        method: str, fields: dict[str, Any]) -> None:
    assert not readable(method, {"ok": True, **fields})


@pytest.mark.parametrize("body", [None, "ok", 1, ["ok"]])
def test_an_answer_that_is_no_object_is_unreadable(body: Any) -> None:
    assert not readable("users.info", body)


@pytest.mark.parametrize("ok", [False, None, 0, ""])
def test_an_answer_not_ok_is_left_to_slack_sdk(ok: Any) -> None:
    """A refusal: slack_sdk raises it as Slack's own failure; its fields are not the bot's to read."""
    assert readable("users.info", {"ok": ok, "user": 7})


@pytest.mark.parametrize("method", sorted(ACTS))
@pytest.mark.parametrize("ok", [None, 0, "", "missing"])
def test_an_answer_to_a_method_that_acts_without_a_false_ok_is_unreadable(method: str, ok: Any) -> None:
    """Slack answered 200 without saying it refused: the post or view may have been made, so it is not taken for a
    refusal (whose caller would post the message again another way)."""
    body = {} if ok == "missing" else {"ok": ok}
    assert not readable(method, {**body, **POSTED, "view": {"id": "V0000000001"}})
    assert readable(method, {"ok": False, "error": "some_new_error"})


@pytest.mark.parametrize("ok", [1, "true", "false", [True]])
def test_an_ok_that_is_true_but_not_exactly_true_is_unreadable(ok: Any) -> None:
    """slack_sdk takes any true value for `ok` as success, so the bot would read fields it never checked."""
    assert not readable("users.info", {"ok": ok, "user": {"id": "U1", "profile": {}}})


def test_every_method_checked_is_covered_here_both_ways() -> None:
    methods = {*READS, *ACTS}
    assert {m for m, _ in READABLE} >= methods and {m for m, _ in UNREADABLE} >= methods
