"""The App Home's "Latest changes you may see" read the newest 100 applied changes and showed those the viewer may
see: someone whose policies changed before a hundred changes of others' saw "No change applied yet." Now it reads
on past them, within a bound, and says how far it read when it stops there with nothing to show. Through Bolt's
pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, CAROL, approvals_bot
from conftest import Bot
from home_helpers import open_home

from bot.adapters.schema import INSERT_EVENT
from bot.adapters.store import Store
from bot.domain.audit import AuditEvent
from handlers.home import CHANGES_READ_AT_MOST

__all__ = ["approvals_bot"]  # a fixture, used by name


def _hidden_rows(count: int) -> list[dict[str, object]]:
    """Applied changes in an organization no rule names, newer than anything recorded before them."""
    production = {"target": "production"}
    return [{"at": "2026-02-01T00:00:00Z", "action": "applied", "actor": ALICE, "organization": "elsewhere",
             "database": "db", "policy_id": f"bp{n:04d}", "policy_name": f"Hidden {n}", "request_id": None,
             "before": production, "after": production, "sent": None, "reason": None, "detail": None,
             "channel": "C0DBAOPS01"} for n in range(count)]


def applied_visibly(store: Store, name: str, at: str) -> None:
    """A change to acme/app-db's production policy, which carol may see, applied `at`, recorded as `name`."""
    store.record(AuditEvent(action="applied", actor=ALICE, organization="acme", database="app-db",
                            policy_id="bp01prod12h", policy_name=name, before={"target": "production"},
                            after={"target": "production"}, channel="C0DBAOPS01", at=at))


def test_a_change_behind_a_hundred_and_fifty_the_viewer_may_not_see_is_shown(approvals_bot: Bot) -> None:
    store = approvals_bot.deps.store
    applied_visibly(store, "Visible one", "2026-01-01T00:00:00+00:00")
    with store.engine.begin() as conn:
        conn.execute(INSERT_EVENT, _hidden_rows(150))
    shown = json.dumps(open_home(approvals_bot, CAROL)["blocks"])
    assert "Visible one" in shown and "Hidden" not in shown, shown


def test_the_home_says_how_far_it_read_when_nothing_there_is_the_viewers(approvals_bot: Bot) -> None:
    store = approvals_bot.deps.store
    applied_visibly(store, "Too old to reach", "2026-01-01T00:00:00+00:00")
    with store.engine.begin() as conn:
        conn.execute(INSERT_EVENT, _hidden_rows(CHANGES_READ_AT_MOST))
    shown = json.dumps(open_home(approvals_bot, CAROL)["blocks"])
    assert "No change applied yet" not in shown and "Hidden" not in shown and "Too old to reach" not in shown, shown
    assert f"newest {CHANGES_READ_AT_MOST:,} applied changes" in shown and "audit export" in shown, shown


def test_the_home_shows_what_it_found_and_says_it_stopped_looking(approvals_bot: Bot) -> None:
    store = approvals_bot.deps.store
    with store.engine.begin() as conn:
        conn.execute(INSERT_EVENT, _hidden_rows(CHANGES_READ_AT_MOST))
    applied_visibly(store, "Visible newest", "2026-03-01T00:00:00+00:00")
    shown = json.dumps(open_home(approvals_bot, CAROL)["blocks"])
    assert "Visible newest" in shown and "Hidden" not in shown, shown
    assert f"Nothing else you may see among the newest {CHANGES_READ_AT_MOST:,} applied changes" in shown, shown
