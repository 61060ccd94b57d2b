"""The watch past a row of its own state damaged in the database (SQLite keeps any text in a JSON column; either
database JSON of another shape): the rest of the policy's database is watched, its drift told."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from approval_helpers import approvals_bot as approvals_bot  # the fixture watched stands on
from conftest import Bot
from test_watch_bad_days import just_now, watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.adapters.store.rows import seen_key
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher


@pytest.mark.parametrize("text", ['{"id": ', '["id"]'])
def test_a_damaged_seen_policy_leaves_the_rest_of_its_database_watched(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, text: str) -> None:
    bot, watcher = watched
    if text == '{"id": ' and not bot.deps.store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL's json type refuses damaged JSON at the door")
    assert watch_pass(bot, watcher) == []
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update watch_seen set policy = :text where policy_id = 'bp03devday'"),
                            {"text": text}).rowcount == 1
    planetscale.dashboard_change("acme", "app-db", "bp01prod12h", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert [p for p in posted if p.startswith(":eyes:") and "Production daily" in p], posted
    assert not watcher.skipped, watcher.skipped
    assert watch_pass(bot, watcher) == []  # the damaged row written afresh: nothing more to tell
    key = seen_key("acme", "app-db", "bp03devday")
    assert health_report(bot.deps)["damaged_rows"] == [f"policy seen by the watch {key}"]


@pytest.mark.parametrize(("column", "text"), [("fields", '["retention_value"'), ("before", '["retention_value"]')])
def test_a_damaged_unposted_notice_holds_back_no_other(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, column: str, text: str) -> None:
    bot, watcher = watched
    if text.count("[") != text.count("]") and not bot.deps.store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL's json type refuses damaged JSON at the door")
    assert watch_pass(bot, watcher) == []
    with bot.deps.store.engine.begin() as conn:  # a notice left unposted, then damaged
        conn.execute(sa.text(
            "insert into watch_notices (id, kind, organization, database, policy_id, policy_name, detail, before,"
            " after, fields, created_at) values ('n-damaged', 'drift', 'acme', 'app-db', 'bp03devday',"
            " 'Development daily', 'changed outside', '{}', '{}', '[]', 0)"))
        conn.execute(sa.text(f"update watch_notices set {column} = :text where id = 'n-damaged'"), {"text": text})
    planetscale.dashboard_change("acme", "app-db", "bp01prod12h", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert [p for p in posted if p.startswith(":eyes:") and "Production daily" in p], posted
    assert health_report(bot.deps)["damaged_rows"] == ["watch notice n-damaged"]


@pytest.mark.parametrize("text", ['{"id": ', '["id"]'])
def test_a_damaged_seen_row_of_a_policy_made_after_the_first_read_is_not_told_as_created(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, text: str) -> None:
    bot, watcher = watched
    if text == '{"id": ' and not bot.deps.store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL's json type refuses damaged JSON at the door")
    assert watch_pass(bot, watcher) == []
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bprecent01", name="Made in the dashboard", created_at=just_now())
    assert [p for p in watch_pass(bot, watcher) if "Created outside the bot" in p]  # told once, when it came
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update watch_seen set policy = :text where policy_id = 'bprecent01'"),
                            {"text": text}).rowcount == 1
    assert watch_pass(bot, watcher) == []  # its row written afresh, quietly
    assert [e.policy_id for e in bot.audit.all() if e.action == "created_outside"] == ["bprecent01"]
    assert watch_pass(bot, watcher) == []
