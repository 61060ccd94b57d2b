"""The watch on an instance whose host clock is two hours ahead of the database's, which every instance shares:
it judges what the bot did (a deletion closed as not applied whose DELETE landed later) on that clock, as the bot
dated it. On its own clock, the bot's deletion sent a minute ago looked two hours old, so it was posted and recorded
as deleted outside the bot, and its requester never heard it was applied. On SQLite and PostgreSQL."""

from __future__ import annotations

import time

from approval_helpers import ALICE, sweep
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from test_watch_a_creation_that_landed_after_it_failed import DEV, failed_creation
from watch_helpers import AUDIT, watch_pass

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState
from bot.runtime.watch import build_watcher

AHEAD = 2 * 3600.0


def test_a_deletion_that_landed_after_it_failed_is_the_bots_own_on_a_host_two_hours_ahead(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot = approvals_bot
    bot.deps.audit_channel = AUDIT

    def database() -> float:
        return time.time() - AHEAD

    bot.deps.store.clock = database
    bot.deps.changes.clock = database
    watcher = build_watcher(bot.deps, bot.app.client, every=1)
    try:
        watch_pass(bot, watcher)
        rid = failed_creation(bot, planetscale, 500, method="DELETE")
        planetscale.dashboard_delete("acme", "app-db", DEV)
        assert watch_pass(bot, watcher) == []
    finally:
        watcher.stop()
    assert not [e for e in bot.audit.all() if e.action == "deleted_outside"]
    request = bot.deps.store.get_request(rid)
    assert request is not None and request.state is RequestState.APPLIED
    told = len(bot.slack.events)
    sweep(bot)
    assert any(e.channel == "D0ALICE001" and "was applied" in e.text for e in bot.slack.events[told:]), \
        f"<@{ALICE}> was never told her deletion was applied"
