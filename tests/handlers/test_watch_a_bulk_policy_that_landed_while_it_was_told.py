"""A bulk change's policy closed as not applied whose PATCH PlanetScale carried out, found by the watch while the
bulk change's end was being told: after the step that tells it read its policies, before it claimed the thread's
list. The thread and the audit channel said "not applied" from that read; each is told it was applied after
all, once; the requester's direct message, written from a read after the watch's, said applied and is not
corrected. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import approvals_bot as approvals_bot  # the fixture
from approval_helpers import sweep
from bulk_helpers import latest
from conftest import Bot
from test_watch import watch_pass
from test_watch_a_bulk_policy_that_landed_after_it_failed import AUDIT, approved_with_one_unconfirmed, said
from watch_helpers import watched as watched  # the fixture

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.watch import Watcher


def test_a_bulk_policy_found_applied_while_its_end_was_told_is_corrected_where_not_applied_was_said(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    bot, watcher = watched
    bot.deps.audit_channel = AUDIT
    changes, store = bot.deps.changes, bot.deps.store
    now, dbs, message, batch_id = approved_with_one_unconfirmed(bot, watcher, planetscale)
    claim = store.claim_notice

    def found_meanwhile(request_id: str, notice: str) -> bool:
        if notice == "outcomes":  # the step read its policies: the watch finds the PATCH landed now
            store.claim_notice = claim  # type: ignore[method-assign]
            now[0] += 60
            planetscale.dashboard_change("acme", dbs[1], f"{dbs[1]}-prod", retention_value=14,
                                         retention_unit="day")
            assert watch_pass(bot, watcher) == []
            now[0] += 1
        return claim(request_id, notice)

    store.claim_notice = found_meanwhile  # type: ignore[method-assign]
    now[0] += changes.lease_seconds + 1
    sweep(bot)  # PlanetScale does not show it: closed as not applied, and told, from the read before the watch
    [member] = [m for m in store.batch_members(batch_id) if m.request.database == dbs[1]]
    assert member.request.state is RequestState.APPLIED
    told_not_applied = said(bot, 0, message.channel, "so it was not applied")
    assert told_not_applied and f"`{dbs[1]}`" in told_not_applied[0]  # in the thread, from the read before
    sweep(bot)
    sweep(bot)
    shown = json.dumps(latest(bot, message).blocks)
    assert "Applied to 3 of 3" in shown
    for where in (AUDIT, message.channel):
        corrected = said(bot, 0, where, "applied after all")
        assert len(corrected) == 1, (where, [(e.channel, e.text) for e in bot.slack.events])
        assert f"`{dbs[1]}`" in corrected[0]
    # The requester's direct message was written from a read after the watch: it said applied, and has nothing
    # to correct.
    assert said(bot, 0, "D0ALICE001", "applied after all") == []
    assert said(bot, 0, "D0ALICE001", "not applied") == []


def test_a_bulk_policy_found_applied_before_its_list_slack_refused_was_posted_is_not_corrected(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    """Slack refuses the thread's "How each policy ended" (ratelimited) while the policy is not applied; the watch
    finds it applied; the sweep posts the list, saying applied. Nothing in the thread said "not applied": no
    correction there."""
    bot, watcher = watched
    changes = bot.deps.changes
    now, dbs, message, _ = approved_with_one_unconfirmed(bot, watcher, planetscale)
    bot.slack.add_fault(MethodFault("chat.postMessage", error="ratelimited", in_thread=True, times=None))
    now[0] += changes.lease_seconds + 1
    sweep(bot)  # closed as not applied; its list refused in the thread
    bot.slack.faults.clear()
    assert not said(bot, 0, message.channel, "How each policy ended")
    now[0] += 60
    planetscale.dashboard_change("acme", dbs[1], f"{dbs[1]}-prod", retention_value=14, retention_unit="day")
    assert watch_pass(bot, watcher) == []
    sweep(bot)
    sweep(bot)
    [ended] = said(bot, 0, message.channel, "How each policy ended")
    assert "so it was not applied" not in ended and f"`{dbs[1]}` *Production daily*: :white_check_mark:" in ended
    assert said(bot, 0, message.channel, "applied after all") == []
