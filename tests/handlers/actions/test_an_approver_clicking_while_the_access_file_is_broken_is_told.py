"""An approver clicking while the access file's latest version cannot be read (a mistake saved in it, a file
moved away): the click was judged under the last good rules and the approver heard nothing of it, though the file
they (or their admins) just changed is not the one in force. Now the clicker is told privately, where they clicked
or in the bot's direct message for a click on the Home, which file and line, that the last good rules judged the
click and nothing in them changed; never what the file holds (a value in it may be a secret). Through Bolt's
pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from approval_helpers import CAROL, DAVE, approvals_bot, ask, direct_messages, request_id
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot
from home_helpers import click_on_home, open_home

from bot.domain.access_file import AccessFile
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

RULES = """[approvals]
expire_after = "{expire}"

[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["U0ALICE001"]
approvers = ["U0CAROL001"]
approvals = 1
"""
SECRET = "hunter2-not-a-duration"
TOLD = "nothing in them changed"


@pytest.fixture
def from_file(approvals_bot: Bot, tmp_path: Path) -> tuple[Bot, Path]:
    path = tmp_path / "access.toml"
    path.write_text(RULES.format(expire="24h"))
    os.utime(path, (time.time() - 60, time.time() - 60))
    approvals_bot.deps.access.source = AccessFile(str(path))
    return approvals_bot, path


def broken(bot: Bot, path: Path) -> None:
    """A new version, settled, holding a value the rules refuse on line 2; the next read keeps the last good."""
    path.write_text(RULES.format(expire=SECRET))
    os.utime(path, (time.time() - 30, time.time() - 30))
    _ = bot.deps.access.rules
    assert SECRET in (bot.deps.access.source.last_error or "")  # the log and /healthz have the reason


def told_of_it(said: str) -> None:
    assert "access.toml" in said and "line 2" in said and TOLD in said, said
    assert SECRET not in said, said


def test_an_approval_is_told_under_which_rules_it_was_judged(
        from_file: tuple[Bot, Path], planetscale: PlanetScaleState) -> None:
    bot, path = from_file
    message = ask(bot)
    broken(bot, path)
    reply = bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    told_of_it(reply.all_text())
    assert len(planetscale.calls("PATCH")) == 1  # the last good rules let carol approve


def test_a_refused_click_is_told_too(from_file: tuple[Bot, Path], planetscale: PlanetScaleState) -> None:
    bot, path = from_file
    message = ask(bot)
    broken(bot, path)
    reply = bot.click(APPROVE, request_id(message), user=DAVE, message=message)
    told_of_it(reply.all_text())
    assert planetscale.calls("PATCH") == []


def test_a_bulk_approval_is_told(from_file: tuple[Bot, Path], planetscale: PlanetScaleState) -> None:
    bot, path = from_file
    ask_bulk_of_two(bot, planetscale)
    [message] = channel_messages(bot)
    broken(bot, path)
    reply = bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    told_of_it(reply.all_text())


def test_a_click_on_the_home_is_told_in_a_direct_message(
        from_file: tuple[Bot, Path], planetscale: PlanetScaleState) -> None:
    bot, path = from_file
    message = ask(bot)
    open_home(bot, CAROL)
    broken(bot, path)
    click_on_home(bot, CAROL, APPROVE, request_id(message))
    told_of_it(" ".join(direct_messages(bot, CAROL)))
    assert SECRET not in json.dumps(bot.slack.homes[CAROL])


def test_a_click_while_the_file_is_in_force_is_told_nothing_of_it(
        from_file: tuple[Bot, Path], planetscale: PlanetScaleState) -> None:
    bot, _ = from_file
    message = ask(bot)
    reply = bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert TOLD not in reply.all_text(), reply.all_text()
    assert all(TOLD not in text for text in direct_messages(bot, CAROL))
    assert len(planetscale.calls("PATCH")) == 1
