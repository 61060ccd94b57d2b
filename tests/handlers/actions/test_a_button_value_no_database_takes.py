"""A click whose value holds a lone surrogate (JSON's `\\ud800`, which a signed payload may carry and no UTF-8
holds), through Bolt's real pipeline on SQLite and PostgreSQL: the lookup raised in the database driver, a traceback
was logged and the person read "something went wrong". The value is no ID the bot made: the person is told the
button is not the bot's, and the refusal is on the audit trail, as for any other unknown value."""

from __future__ import annotations

import json

import pytest
from conftest import Bot

from handlers.blocks import APPROVE, CANCEL, REJECT, REVERT
from handlers.bulk_blocks import BULK_APPROVE, BULK_CANCEL, BULK_REJECT, BULK_RETRY
from handlers.watch import REVERT_OUTSIDE

LONE = "\ud800"


@pytest.mark.parametrize(("action", "told"), [
    (APPROVE, "That request does not exist"), (REJECT, "That request does not exist"),
    (CANCEL, "That request does not exist"), (REVERT, "That change does not exist"),
    (BULK_APPROVE, "That bulk change does not exist"), (BULK_REJECT, "That bulk change does not exist"),
    (BULK_CANCEL, "That bulk change does not exist"), (BULK_RETRY, "That bulk change does not exist"),
    (REVERT_OUTSIDE, "not one the watch recorded")])
@pytest.mark.parametrize("value", [LONE, "5f0c" + LONE])
def test_a_button_whose_value_no_database_takes_is_told_as_not_the_bots(
        bot: Bot, caplog: pytest.LogCaptureFixture, action: str, told: str, value: str) -> None:
    reply = bot.click(action, value)
    said = json.dumps([e.text for e in reply.events], ensure_ascii=False)
    assert told in said and "went wrong" not in said, said
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert any(e.action == "refused" and "does not know" in (e.detail or "") for e in bot.audit.all())
