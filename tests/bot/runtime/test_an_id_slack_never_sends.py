"""A signed request whose user or channel ID holds what no Slack ID holds (NUL, a lone surrogate, a bidi mark) or
runs past the store's 32 characters, through Bolt's real pipeline on SQLite and PostgreSQL. On PostgreSQL the
first write about it (the audit trail's entry, the request) raised after the ack: a traceback, and the person
told "Something went wrong". Such a request is no request Slack sends: ignored at the door, and nothing is sent."""

from __future__ import annotations

import pytest
from approval_helpers import approvals_bot
from conftest import OPEN_RULES, Bot

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack_requests import block_actions_body, slash_command_body
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

ALICE, CHANNEL = "U0ALICE001", "C0DBAOPS01"
ODD = {"nul": "\x00", "long": "1" * 40, "bidi": "\u202e"}
COMMANDS = ["list acme/app-db", "update acme/app-db bp03devday retention=5d reason=audit"]


@pytest.mark.parametrize("odd", ODD.values(), ids=ODD.keys())
@pytest.mark.parametrize("field", ["user", "channel"])
@pytest.mark.parametrize("command", COMMANDS, ids=["list", "update"])
def test_a_slash_command_from_an_id_slack_never_sends_is_ignored(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture, odd: str,
        field: str, command: str) -> None:
    approvals_bot.use_rules(OPEN_RULES)
    body = slash_command_body(command, user_id=ALICE + odd if field == "user" else ALICE, user_name="alice",
                              channel_id=CHANNEL + odd if field == "channel" else CHANNEL, channel_name="dba-ops",
                              response_url=f"{approvals_bot.slack_url}/response/1",
                              trigger_id=approvals_bot.slack.new_trigger_id())
    reply = approvals_bot.send(body)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Something went wrong" not in reply.all_text()
    assert reply.events == [] and planetscale.calls("PATCH") == []
    assert any("not a Slack ID" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("odd", [*ODD.values(), "\ud800"], ids=[*ODD.keys(), "surrogate"])
def test_a_click_from_a_user_id_slack_never_sends_is_ignored(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture, odd: str) -> None:
    body = block_actions_body(user_id=ALICE + odd, user_name="alice", channel_id=CHANNEL,
                              response_url=f"{approvals_bot.slack_url}/response/2",
                              trigger_id=approvals_bot.slack.new_trigger_id(),
                              action={"type": "button", "action_id": APPROVE, "block_id": "b",
                                      "value": "no-such-request", "text": {"type": "plain_text", "text": "Approve"}})
    reply = approvals_bot.send(body)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Something went wrong" not in reply.all_text()
    assert reply.events == []
    assert any("not a Slack ID" in r.getMessage() for r in caplog.records)
