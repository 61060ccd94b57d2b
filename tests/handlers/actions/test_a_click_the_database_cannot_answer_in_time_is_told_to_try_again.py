"""A click whose step the database cannot answer in time: on PostgreSQL, the request's row locked by another session
(an operator's `SELECT ... FOR UPDATE` left open, a stuck transaction) past the lock timeout. The approver was told
"Something went wrong inside the bot", as for a defect of the bot, and not that clicking again once the database
answers does it. Now they are told the database could not answer in time and why, and to try again; nothing was
sent, and the click again once the lock is given back approves it."""

from __future__ import annotations

import pytest
from approval_helpers import CAROL, approvals_bot, ask, request_id
from conftest import Bot
from test_a_row_locked_by_another_session_stops_no_sweep import row_locked

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_an_approval_of_a_locked_request_is_told_to_try_again(
        approvals_bot: Bot, planetscale: PlanetScaleState, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("a lock on one row is PostgreSQL's: SQLite locks the whole file, and its writers wait their turn")
    bot = approvals_bot
    message = ask(bot)
    rid = request_id(message)
    with row_locked(store_url, rid):
        locked = bot.click(APPROVE, rid, user=CAROL, message=message).all_text()
    assert "The bot's database could not answer in time (a row it needs is locked by another session)" in locked
    assert "try again in a minute" in locked and "Something went wrong" not in locked
    assert planetscale.calls("PATCH") == []
    assert bot.deps.store.approvers_of(rid) == []
    bot.click(APPROVE, rid, user=CAROL, message=message)
    assert bot.deps.store.get_request(rid).state == "applied"  # type: ignore[union-attr]
    assert len(planetscale.calls("PATCH")) == 1
