"""A watch notice whose claim is damaged in the database (claimed by an instance long gone, until a time no clock
reaches: Infinity, NaN, years ahead; or text, which SQLite keeps in a number's column) was never claimed again,
so never posted: the drift it tells was lost without a word. Now such a claim is anyone's to take, as a damaged
lease is: the notice is posted at the next pass, once, and /healthz names the row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from approval_helpers import approvals_bot as approvals_bot  # the fixture watched stands on
from conftest import Bot
from test_watch_bad_days import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher


@pytest.mark.parametrize("until", [float("inf"), float("nan"), 1e300, 4e9, "soon"])
def test_a_notice_claimed_until_a_time_no_clock_reaches_is_still_posted_once(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState, until: float | str) -> None:
    bot, watcher = watched
    sqlite = bot.deps.store.url.startswith("sqlite")
    if sqlite and until != until:
        pytest.skip("SQLite stores NaN as NULL, an unclaimed notice")
    if not sqlite and isinstance(until, str):
        pytest.skip("PostgreSQL keeps a number's column to numbers")
    watch_pass(bot, watcher)
    bot.slack.add_fault(MethodFault("chat.postMessage", status=500, times=None))
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    assert watch_pass(bot, watcher) == []  # Slack refused it: kept to post
    bot.slack.faults.clear()
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update watch_notices set claimed_by = 'an-instance-long-gone', "
                                    "claimed_until = :until where posted_at is null"), {"until": until}).rowcount == 1
    posted = watch_pass(bot, watcher)
    assert [p.split(":")[1] for p in posted] == ["eyes"], posted
    assert any(row.startswith("watch notice") for row in health_report(bot.deps).get("damaged_rows", [])), \
        health_report(bot.deps)
    assert watch_pass(bot, watcher) == []  # once
