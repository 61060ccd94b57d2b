"""`history` read the newest 100 entries of a database and showed those the caller may see: someone who may see only
its development policies, on a database whose production policy changed often since, was told "Nothing recorded
yet" of changes the trail holds (and a page of the bot's own `sending` entries hid the rest from anyone). Now it
reads on past them, within a bound, and says how far it read when it stops there with nothing to show. Through
Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from access_rules import by_target
from conftest import Bot

from bot.adapters.schema import INSERT_EVENT
from bot.domain.audit import AuditEvent
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.commands.backup_policy import HISTORY_READ_AT_MOST

ALICE, BOB = "U0ALICE001", "U0BOB00001"
DEV = "bp03devday"
RULES = by_target(production=([ALICE], ["U0CAROL001"], 0), development=([ALICE, BOB], ["U0CAROL001"], 0))


@pytest.fixture
def split(bot: Bot) -> Bot:
    bot.use_rules(RULES)
    return bot


def test_history_shows_a_change_behind_many_the_caller_may_not_see(split: Bot, planetscale: PlanetScaleState) -> None:
    split.command(f"update acme/app-db {DEV} retention=4d", user=BOB)
    production = {"target": "production", "retention_value": 2}
    for n in range(150):
        split.deps.store.record(AuditEvent(action="applied", actor=ALICE, organization="acme", database="app-db",
                                           policy_id="bp01prod12h", policy_name="Production daily",
                                           before=production, after={**production, "retention_value": n % 9 + 1}))
    mine = split.command("history acme/app-db", user=BOB).all_text()
    assert "Nothing recorded yet" not in mine, mine
    assert "Development daily" in mine and "Production daily" not in mine


def test_history_shows_a_change_behind_a_page_of_the_bots_own_entries(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.command(f"update acme/app-db {DEV} retention=4d", user=ALICE)
    for _ in range(150):
        bot.deps.store.record(AuditEvent(action="sending", actor=ALICE, organization="acme", database="app-db",
                                         policy_id=DEV, policy_name="Development daily",
                                         before={"target": "development"}))
    shown = bot.command("history acme/app-db", user=ALICE).all_text()
    assert "Nothing recorded yet" not in shown and "Development daily" in shown, shown


def test_history_says_how_far_it_read_when_nothing_there_is_the_callers(split: Bot, planetscale: PlanetScaleState
                                                                         ) -> None:
    split.command(f"update acme/app-db {DEV} retention=4d", user=BOB)
    production = {"target": "production"}
    rows = [{"at": "2026-01-01T00:00:00Z", "action": "applied", "actor": ALICE, "organization": "acme",
             "database": "app-db", "policy_id": "bp01prod12h", "policy_name": "Production daily",
             "request_id": None, "before": production, "after": production, "sent": None, "reason": None,
             "detail": None, "channel": None} for _ in range(HISTORY_READ_AT_MOST)]
    with split.deps.store.engine.begin() as conn:
        conn.execute(INSERT_EVENT, rows)
    mine = split.command("history acme/app-db", user=BOB).all_text()
    assert "Nothing recorded yet" not in mine and "Production daily" not in mine, mine
    assert f"among its newest {HISTORY_READ_AT_MOST:,} entries" in mine and "audit export" in mine
