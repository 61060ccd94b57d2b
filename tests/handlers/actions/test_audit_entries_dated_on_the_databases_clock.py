"""An instance whose host clock is off (a VM resumed before NTP caught up, a host without NTP) dates what it puts
on the audit trail by the store's clock, the database's, which every instance shares, as it dates leases and
requests: dated by its own clock a year behind, a change asked and approved there looked a year old, so a prune of
entries older than 90 days deleted them the day they were written and an export from last week left them out.
Through Bolt's pipeline and the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from approval_helpers import CAROL, approvals_bot, ask, request_id
from conftest import Bot

import bot.domain.audit
from bot.domain.audit import iso_of
from bot.domain.change_requests import RequestState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


class YearBehind(datetime):
    """This host's wall clock, a year behind the database's."""

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return datetime.now(UTC) - timedelta(days=365)


def test_a_change_asked_and_approved_on_a_host_a_year_behind_is_dated_now_and_kept_by_a_90_day_prune(
    approvals_bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.domain.audit, "datetime", YearBehind)
    store = approvals_bot.deps.store
    message = ask(approvals_bot)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    request = store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED
    now = store.clock()
    entries = [e for e in store.all_events() if e.request_id == request.id]
    assert {"requested", "approved", "applied"} <= {e.action for e in entries}
    assert all(iso_of(now - 3600) <= e.at <= iso_of(now + 3600) for e in entries), \
        [(e.action, e.at) for e in entries]
    pruned = sum(deleted for deleted, _, _ in store.prune_batches(iso_of(now - 90 * 86400)))
    assert pruned == 0, "entries written now were pruned as older than 90 days"
