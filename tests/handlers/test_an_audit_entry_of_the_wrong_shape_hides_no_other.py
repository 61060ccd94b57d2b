"""One audit entry whose JSON fields decode to what no entry holds (a list, a string, a policy's fields of other
types: both databases keep any JSON) hides no other: `history` of its database and every App Home showing the
latest changes still show the rest, through Bolt's real pipeline, and the entry itself is told without its
values; the approval of another request on its policy, which reads the trail to say who moved the policy, is
answered and the request ended. PlanetScale writes such entries too: a change made in its dashboard that no
command of the bot takes (a name past 255 characters, a retention past any the bot sends) is recorded by the
watch as it was made, and `history` tells it without its values, beside the rest."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, PROD, request_id, swept_later, thread_of
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from home_helpers import open_home
from watch_helpers import watched as watched  # the fixture

from bot.adapters.store import Store
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import Watcher
from handlers.blocks import APPROVE

DAMAGE = [("before", "[1]"), ("after", '"development"'), ("sent", "[1]"),
          ("before", '{"target": ["development"]}'), ("before", '{"target": 5}'),
          ("sent", '{"retention_value": "x"}')]
# An object whose values no policy holds: the entry is still listed, said without them. (A target no rule names
# hides its entry from everyone, as the rules say.)
TOLD_WITHOUT_VALUES = {'{"retention_value": "x"}'}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """The bot's storage on SQLite and on PostgreSQL: both keep JSON of any shape in a JSON column."""
    opened = Store(store_url)
    opened.migrate()
    yield opened
    opened.close()


def damage_the_first_change(bot: Bot, column: str, text: str) -> None:
    engine = sa.create_engine(bot.deps.store.url)
    with engine.begin() as conn:
        seq = conn.execute(sa.text("select min(seq) from audit_events where action = 'applied'")).scalar_one()
        conn.execute(sa.text(f"update audit_events set {column} = :text where seq = :seq"),
                     {"seq": seq, "text": text})
    engine.dispose()


@pytest.mark.parametrize(("column", "text"), DAMAGE)
def test_history_and_the_home_show_the_changes_beside_an_entry_of_the_wrong_shape(
        bot: Bot, planetscale: PlanetScaleState, column: str, text: str) -> None:
    bot.command("update acme/app-db bp03devday retention=5d")
    bot.command("update acme/app-db bp03devday retention=6d")
    damage_the_first_change(bot, column, text)
    said = bot.command("history acme/app-db").all_text()
    home = json.dumps(open_home(bot, ALICE), ensure_ascii=False)
    for shown in (said, home):
        assert "Something went wrong" not in shown, shown
        assert "6 days" in shown, shown
    if text in TOLD_WITHOUT_VALUES:
        assert "its values could not be read" in said, said


@pytest.mark.parametrize("text", ["[1]", '"development"'])
def test_an_approval_on_a_policy_whose_applied_entry_is_of_the_wrong_shape_is_answered_and_ended(
        approvals_bot: Bot, planetscale: PlanetScaleState, text: str) -> None:
    bot = approvals_bot
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    bot.command(f"update acme/app-db {PROD} retention=10d", user=ALICE)
    first, second = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
                     and e.channel in bot.slack.channels]
    bot.click(APPROVE, request_id(second), user=CAROL, message=second)
    with bot.deps.store.engine.begin() as conn:
        conn.execute(sa.text("update audit_events set after = :text where action = 'applied'"), {"text": text})
    reply = bot.click(APPROVE, request_id(first), user=CAROL, message=first).all_text()
    swept_later(bot)
    assert "Something went wrong" not in reply, reply
    request = bot.deps.store.get_request(request_id(first))
    assert request is not None and request.state is RequestState.FAILED, request
    assert any("Conflict, not applied" in line for line in thread_of(bot, first)), thread_of(bot, first)
    assert len(planetscale.calls("PATCH")) == 1  # the second request's alone


@pytest.mark.parametrize("change", [{"name": "é" * 300}, {"retention_value": 2**40}])
def test_history_tells_a_dashboard_change_the_bot_never_sends_beside_the_rest(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, change: dict[str, object]) -> None:
    bot, watcher = watched
    bot.command("update acme/app-db bp03devday retention=6d", user=ALICE)
    watcher.run_once()  # the baseline
    planetscale.dashboard_change("acme", "app-db", "bp02prodwk", **change)
    watcher.run_once()
    assert [e.action for e in bot.audit.all()].count("changed_outside") == 1
    said = bot.command("history acme/app-db", user=ALICE).all_text()
    assert "Something went wrong" not in said, said
    assert "6 days" in said and "someone outside the bot changed" in said, said
