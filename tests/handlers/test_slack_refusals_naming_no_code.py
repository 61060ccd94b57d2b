"""Slack refuses a call with an `error` code (`invalid_auth`, `channel_not_found`); a refusal whose `error` is no
code (a proxy's page, text echoing the request with the bot's token, Slack markup, thousands of characters) was
shown to the person as it came: `<!channel>`, the token, 5,000 characters. Such an answer is one the bot cannot
read, told in the bot's own words (review rev22a). Through Bolt's signed pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from access_rules import admin_asks
from approval_helpers import ALICE, PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import BOT_TOKEN, Bot
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.emulators.slack import MethodFault

ODD_ERRORS = [f"invalid_auth (token {BOT_TOKEN})", "<!channel> please re-install", "x" * 5000]
COMMANDS = {"views.open": f"edit acme/app-db {PROD}", "users.info": f"update acme/app-db {PROD} retention=9d"}


def answer_when_slack_refuses(bot: Bot, method: str, error: str) -> str:
    bot.use_rules(admin_asks(1))  # a PlanetScale admin asks: users.info gives their e-mail address
    bot.slack.faults.clear()
    bot.slack.add_fault(MethodFault(method, body={"ok": False, "error": error}, times=None))
    said = bot.command(COMMANDS[method], user=ALICE).all_text()
    bot.slack.faults.clear()
    return said


@pytest.mark.parametrize("error", ODD_ERRORS, ids=["token", "markup", "long"])
@pytest.mark.parametrize("method", list(COMMANDS))
def test_a_refusal_naming_no_code_is_told_in_the_bots_words(approvals_bot: Bot, method: str, error: str) -> None:
    said = answer_when_slack_refuses(approvals_bot, method, error)
    assert "cannot read" in said, said
    assert BOT_TOKEN not in said and "<!channel>" not in said and "x" * 300 not in said, said


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(error=st.text(min_size=1, max_size=400), method=st.sampled_from(list(COMMANDS)))
@example(error="channel_not_found", method="views.open")
def test_a_refusal_shows_its_error_only_when_it_is_a_code(approvals_bot: Bot, error: str, method: str) -> None:
    said = answer_when_slack_refuses(approvals_bot, method, error)
    assert "Something went wrong" not in said, said
    if (len(error) > 3 and not error.isascii()) or "<" in error:
        assert error not in said, said
