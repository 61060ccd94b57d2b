"""The sweep while the database fails it alike on every pass (a table gone, PostgreSQL refusing connections): each
failing step logged its whole traceback every 30 s, and a step run through `functools.partial` was named by its
arguments' reprs, the bot's every part, a line of kilobytes. Now each step is named by its function, its traceback
logged once, then a line a pass naming the error; and a step that works again logs its traceback anew next time."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from approval_helpers import approvals_bot
from conftest import Bot

from bot.runtime.running import make_sweeper

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_step_failing_alike_logs_its_traceback_once_and_is_named_by_its_function(
        approvals_bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    sweeper = make_sweeper(bot.deps, bot.app.client)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE change_requests RENAME TO change_requests_away"))
    try:
        for _ in range(3):
            with pytest.raises(sa.exc.SQLAlchemyError):
                sweeper.sweep()
    finally:
        with bot.deps.store.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE change_requests_away RENAME TO change_requests"))
    steps = [r for r in caplog.records if r.getMessage().startswith("the sweep's step")]
    assert steps and all(len(r.getMessage()) < 600 for r in steps), [r.getMessage()[:300] for r in steps]
    assert any("step post_unposted failed" in r.getMessage() for r in steps)
    for name in {r.getMessage().split()[3] for r in steps}:
        said = [r for r in steps if r.getMessage().split()[3] == name]
        assert len(said) == 3 and [bool(r.exc_info) for r in said] == [True, False, False], name
        assert "failed again (" in said[-1].getMessage()
    sweeper.sweep()  # works again
    caplog.clear()
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE change_requests RENAME TO change_requests_away"))
    try:
        with pytest.raises(sa.exc.SQLAlchemyError):
            sweeper.sweep()
    finally:
        with bot.deps.store.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE change_requests_away RENAME TO change_requests"))
    assert all(r.exc_info for r in caplog.records if r.getMessage().startswith("the sweep's step"))
