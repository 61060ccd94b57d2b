"""One open change request or bulk change whose stored JSON was damaged in the database (SQLite keeps whatever text
a hand or a broken disk wrote; on either database a JSON value of the wrong shape) must not take down every
approver's App Home, `pending` or the sweep: the others are shown and swept, the damaged one named once in the log
and in /healthz."""

from __future__ import annotations

import json
import logging
import time

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, PROD, sweep, thread_of
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

# Not JSON (SQLite keeps it; PostgreSQL's json type refuses it at the door), and JSON of the wrong shape (both keep).
NOT_JSON = '{"retention_value": 9'
WRONG_SHAPE = '["retention_value", 9]'


def damage(bot: Bot, table: str, column: str, text: str, row_id: str) -> None:
    if text == NOT_JSON and not bot.deps.store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL's json type refuses damaged JSON at the door")
    engine = sa.create_engine(bot.deps.store.url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"update {table} set {column} = :text where id = :id"), {"text": text, "id": row_id})
    engine.dispose()


PLANNED_DAMAGE = {"name": {"policy_name": 7}, "risks": {"risks": [{"a": 1}]}, "before": {"before": {}},
                  "before list": {"before": []}, "before no policy": {"before": {"target": "production"}},
                  "groups list": {"groups": []}, "facts list": {"facts": [1]}}
# The batch's own fields damaged: JSON of another shape where the plan holds an object.
BATCH_DAMAGE = {"changes list": {"changes": []}}


def two_requests(bot: Bot) -> tuple[str, str]:
    """Two pending requests, the first one's `changes` damaged: (its ID, the other's)."""
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    bot.command(f"update acme/app-db {PROD} frequency=6h", user=ALICE)
    first, second = [r.id for r in bot.deps.store.requests([RequestState.PENDING])]
    return first, second


@pytest.mark.parametrize("text", [NOT_JSON, WRONG_SHAPE])
def test_an_approvers_home_and_pending_show_the_other_requests_beside_a_damaged_one(
        approvals_bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture, text: str) -> None:
    bot = approvals_bot
    first, _ = two_requests(bot)
    damage(bot, "change_requests", "changes", text, first)
    with caplog.at_level(logging.WARNING, "bot.adapters.store"):
        home = json.dumps(open_home(bot, CAROL), ensure_ascii=False)
        waiting = bot.command("pending", user=CAROL).all_text()
        own = bot.command("pending", user=ALICE).all_text()
    for shown in (home, waiting, own):
        assert "Something went wrong" not in shown, shown
        assert "every 6 hours" in shown and "9 days" not in shown, shown
    assert "1 open request" in waiting, waiting
    named = [r.getMessage() for r in caplog.records if first in r.getMessage()]
    assert len(named) == 1 and "does not decode" in named[0], caplog.text
    assert health_report(bot.deps)["damaged_rows"] == [f"change request {first}"]


@pytest.mark.parametrize("text", [NOT_JSON, WRONG_SHAPE])
def test_the_sweep_expires_the_other_requests_beside_a_damaged_one(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    first, second = two_requests(bot)
    [_, message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
                    and e.channel in bot.slack.channels]
    damage(bot, "change_requests", "changes", text, first)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("update change_requests set expires_at = 0, judge_at = 0"))
    sweep(bot)
    expired = bot.deps.store.get_request(second)
    assert expired is not None and expired.state is RequestState.EXPIRED
    assert any("xpired" in line for line in thread_of(bot, message))
    assert bot.deps.store.get_request(first) is None  # skipped, as everywhere, and left as it is
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("text", [NOT_JSON, '{"planned": 3}', "name", "risks", "before", "before list",
                                  "before no policy", "groups list", "facts list", "changes list"])
def test_a_damaged_bulk_change_hides_no_other_and_stops_no_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    for prefix in ("one", "two"):
        ask_bulk_of_two(bot, planetscale, prefix)
    first, second = [b.id for b in bot.deps.store.open_batches()]
    if text in PLANNED_DAMAGE or text in BATCH_DAMAGE:  # a plan that decodes, holding what no plan of this bot holds
        with bot.deps.store.engine.begin() as conn:
            plan = json.loads(conn.execute(sa.text("select cast(plan as text) from change_batches where id = :id"),
                                           {"id": first}).scalar_one())
        if text in PLANNED_DAMAGE:
            plan["planned"][0] |= PLANNED_DAMAGE[text]
        else:
            plan |= BATCH_DAMAGE[text]
        text = json.dumps(plan)
    damage(bot, "change_batches", "plan", text, first)
    assert [b.id for b in bot.deps.store.open_batches()] == [second]
    home = json.dumps(open_home(bot, CAROL), ensure_ascii=False)
    waiting = bot.command("pending", user=CAROL).all_text()
    for shown in (home, waiting):
        assert "Something went wrong" not in shown and "two-" in shown, shown
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("update change_batches set expires_at = :past, judge_at = 0"),
                     {"past": time.time() - 1})
    sweep(bot)
    expired = bot.deps.store.get_batch(second)
    assert expired is not None and expired.state is BatchState.EXPIRED
    assert bot.deps.store.get_batch(first) is None
    assert health_report(bot.deps)["damaged_rows"] == [f"bulk change {first}"]
    assert planetscale.calls("PATCH") == []


def test_a_click_on_a_damaged_request_is_answered_and_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    first, _ = two_requests(bot)
    message = next(e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
                   and first in json.dumps(e.blocks))
    damage(bot, "change_requests", "changes", WRONG_SHAPE, first)
    reply = bot.click(APPROVE, first, user=CAROL, message=message)
    assert "That request does not exist" in reply.all_text(), reply.all_text()
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize(("column", "text"), [("changes", '{"retention_value": [1]}'), ("before", "{}")])
def test_a_request_holding_values_no_policy_has_hides_no_other(
        approvals_bot: Bot, planetscale: PlanetScaleState, column: str, text: str) -> None:
    bot = approvals_bot
    first, _ = two_requests(bot)
    damage(bot, "change_requests", column, text, first)
    home = json.dumps(open_home(bot, CAROL), ensure_ascii=False)
    waiting = bot.command("pending", user=CAROL).all_text()
    for shown in (home, waiting):
        assert "Something went wrong" not in shown and "every 6 hours" in shown, shown


# A kind this version does not know: a newer version's row, sharing the database during a rolling deploy.
@pytest.mark.parametrize(("column", "text"), [("approvers", "[1, null]"), ("changes", '{"retention_value": [1]}'),
                                              ("kind", "rename")])
def test_a_request_no_message_can_show_stops_no_other_step_of_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, column: str, text: str) -> None:
    bot = approvals_bot
    first, second = two_requests(bot)
    [_, message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
                    and e.channel in bot.slack.channels]
    damage(bot, "change_requests", column, text, first)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("update change_requests set expires_at = 0, judge_at = 0"))
    sweep(bot)  # raises nothing
    assert any("xpired" in line for line in thread_of(bot, message))  # the other one's end told
    expired = bot.deps.store.get_request(second)
    assert expired is not None and expired.state is RequestState.EXPIRED and expired.told
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("damage", [{"retention_value": "x"}, {"next_run_at": [1]}])
def test_an_approval_of_a_bulk_change_whose_stored_policy_no_policy_matches_is_answered_and_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState, damage: dict[str, object]) -> None:
    bot = approvals_bot
    ask_bulk_of_two(bot, planetscale)
    [message] = channel_messages(bot)
    [batch] = bot.deps.store.open_batches()
    with bot.deps.store.engine.begin() as conn:
        plan = json.loads(conn.execute(sa.text("select cast(plan as text) from change_batches where id = :id"),
                                       {"id": batch.id}).scalar_one())
    plan["planned"][0]["before"] |= damage  # its target still text: read as a plan, until judged or shown
    damage_row(bot, json.dumps(plan), batch.id)
    said = bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message).all_text()
    assert "Something went wrong" not in said and "That bulk change does not exist" in said, said
    assert health_report(bot.deps)["damaged_rows"] == [f"bulk change {batch.id}"]
    assert planetscale.calls("PATCH") == []


def damage_row(bot: Bot, text: str, batch_id: str) -> None:
    damage(bot, "change_batches", "plan", text, batch_id)
