"""During a rolling deploy two versions share one database: a row a newer version wrote (a request kind or state,
a watch notice kind this version does not know) must not take down every approver's App Home, `pending`,
`history` or the sweep: the others are shown and swept, the unknown one named once in the log and skipped."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, PROD, sweep
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot
from home_helpers import open_home

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE


def two_requests(bot: Bot) -> tuple[str, str]:
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    bot.command(f"update acme/app-db {PROD} frequency=6h", user=ALICE)
    first, second = [r.id for r in bot.deps.store.requests([RequestState.PENDING])]
    return first, second


def write(bot: Bot, column: str, value: str, row_id: str) -> None:
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text(f"update change_requests set {column} = :v where id = :id"), {"v": value, "id": row_id})


@pytest.mark.parametrize("kind", ["rename", "move"])
def test_a_request_of_a_kind_a_newer_version_wrote_hides_no_other(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    bot = approvals_bot
    first, _ = two_requests(bot)
    write(bot, "kind", kind, first)
    with caplog.at_level(logging.WARNING, "bot.adapters.store"):
        home = json.dumps(open_home(bot, CAROL), ensure_ascii=False)
        waiting = bot.command("pending", user=CAROL).all_text()
        own = bot.command("pending", user=ALICE).all_text()
        history = bot.command("history acme/app-db", user=CAROL).all_text()
    for shown in (home, waiting, own, history):
        assert "Something went wrong" not in shown, shown
    for shown in (home, waiting, own):
        assert "every 6 hours" in shown, shown
    assert "1 open request" in waiting, waiting
    assert any(first in r.getMessage() for r in caplog.records), caplog.text


def test_a_click_on_a_request_in_a_state_a_newer_version_wrote_is_answered_and_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    first, _ = two_requests(bot)
    message = next(e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
                   and first in json.dumps(e.blocks))
    write(bot, "state", "on_hold", first)
    history = bot.command("history acme/app-db", user=CAROL).all_text()
    home = json.dumps(open_home(bot, CAROL), ensure_ascii=False)
    own = bot.command("pending", user=ALICE).all_text()
    said = bot.click(APPROVE, first, user=CAROL, message=message).all_text()
    for shown in (home, own, history, said):
        assert "Something went wrong" not in shown, shown
    assert "That request does not exist" in said, said
    sweep(bot)
    assert planetscale.calls("PATCH") == []


def test_a_click_on_a_bulk_change_in_a_state_a_newer_version_wrote_is_answered_and_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    ask_bulk_of_two(bot, planetscale)
    [message] = channel_messages(bot)
    batch_id = button(message, BULK_APPROVE)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("update change_batches set state = 'paused' where id = :id"), {"id": batch_id})
    said = bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message).all_text()
    assert "Something went wrong" not in said and "That bulk change does not exist" in said, said
    assert health_report(bot.deps)["damaged_rows"] == [f"bulk change {batch_id}"]
    assert planetscale.calls("PATCH") == []


def test_a_bulk_change_whose_policy_ended_as_a_newer_version_says_is_finished_and_stops_no_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    for prefix in ("one", "two"):
        ask_bulk_of_two(bot, planetscale, prefix)
    first_message, _ = channel_messages(bot)
    first, second = [b.id for b in bot.deps.store.open_batches()]
    bot.click(BULK_APPROVE, first, user=CAROL, message=first_message)
    with bot.deps.store.engine.begin() as conn:  # its thread not yet told how each ended, one's as a newer says
        conn.execute(sa.text("delete from request_notices where request_id = :id and notice = 'outcomes'"),
                     {"id": first})
        member = conn.execute(sa.text("select request_id from batch_members where batch_id = :id"),
                              {"id": first}).scalars().first()
        conn.execute(sa.text("update batch_members set outcome = 'deferred' where request_id = :id"),
                     {"id": member})
        conn.execute(sa.text("update change_batches set expires_at = 1, judge_at = 0 where id = :id"),
                     {"id": second})
    sweep(bot)  # finishes the first (its thread already told, as Slack's metadata says), raising nothing
    expired = bot.deps.store.get_batch(second)
    assert expired is not None and expired.state is BatchState.EXPIRED
    assert health_report(bot.deps)["damaged_rows"] == [f"outcome of bulk change member {member}"]


def test_a_bulk_change_a_newer_version_planned_is_skipped_and_not_said_damaged(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture) -> None:
    bot = approvals_bot
    ask_bulk_of_two(bot, planetscale)
    [batch] = bot.deps.store.open_batches()
    with bot.deps.store.engine.begin() as conn:  # a field a newer version keeps in its plan
        plan = json.loads(conn.execute(sa.text("select cast(plan as text) from change_batches where id = :id"),
                                       {"id": batch.id}).scalar_one())
        conn.execute(sa.text("update change_batches set plan = :plan where id = :id"),
                     {"plan": json.dumps({**plan, "window": "02:00-04:00"}), "id": batch.id})
    with caplog.at_level(logging.WARNING, "bot.adapters.store"):
        waiting = bot.command("pending", user=CAROL).all_text()
    assert "Something went wrong" not in waiting, waiting
    [line] = [r.getMessage() for r in caplog.records if batch.id in r.getMessage()]
    assert "newer version" in line, line
