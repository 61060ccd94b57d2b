"""A bulk change an older release stored and left pending at the upgrade is still shown, approved and applied:
its plan holds what that release wrote, `hidden` among it (the count of policies hidden from its asker, dropped
since), which this release no longer keeps."""

from __future__ import annotations

import json

import sqlalchemy as sa
from approval_helpers import CAROL
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot
from home_helpers import open_home

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from handlers.bulk_blocks import BULK_APPROVE


def as_an_older_release_wrote(bot: Bot, batch_id: str) -> None:
    """The plan as releases before `where_target` wrote it: with `hidden`, without `where_target`."""
    with bot.deps.store.engine.begin() as conn:
        plan = json.loads(conn.execute(sa.text("select cast(plan as text) from change_batches where id = :id"),
                                       {"id": batch_id}).scalar_one())
        plan.pop("where_target")
        plan["hidden"] = 0
        conn.execute(sa.text("update change_batches set plan = :plan where id = :id"),
                     {"plan": json.dumps(plan), "id": batch_id})


def test_a_bulk_change_an_older_release_left_pending_is_shown_and_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    ask_bulk_of_two(bot, planetscale)
    [message] = channel_messages(bot)
    batch_id = button(message, BULK_APPROVE)
    as_an_older_release_wrote(bot, batch_id)
    assert [b.id for b in bot.deps.store.open_batches()] == [batch_id]
    home = json.dumps(open_home(bot, CAROL), ensure_ascii=False)
    waiting = bot.command("pending", user=CAROL).all_text()
    for shown in (home, waiting):
        assert "Something went wrong" not in shown and "one-" in shown, shown
    said = bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message).all_text()
    assert "does not exist" not in said and "Something went wrong" not in said, said
    assert sorted(call.path.rsplit("/", 1)[-1] for call in planetscale.calls("PATCH")) == ["one-0-prod",
                                                                                         "one-1-prod"]
    assert "damaged_rows" not in health_report(bot.deps)
