"""Notices the audit channel will not take (the bot removed from it, the channel archived, the token revoked):
kept and posted once Slack takes them, and meanwhile /healthz says that they wait and why, not just "ok"."""

from __future__ import annotations

from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher


def test_notices_the_audit_channel_refuses_are_told_by_healthz_until_they_are_posted(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watcher.run_once()
    planetscale.dashboard_change("acme", "app-db", "bp03devday", retention_value=5)
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    bot.slack.add_fault(MethodFault(method="chat.postMessage", error="channel_not_found", times=None))
    watcher.run_once()
    assert len(bot.deps.store.unposted_notices()) == 2
    report = health_report(bot.deps, watcher)
    assert "2 notices" in report.get("watch_unposted", "") and "channel_not_found" in report["watch_unposted"], \
        report
    with bot.slack.lock:
        bot.slack.faults.clear()  # the bot is invited back
    watcher.run_once()
    assert bot.deps.store.unposted_notices() == []
    assert "watch_unposted" not in health_report(bot.deps, watcher)
