"""A lease row held by another session on PostgreSQL (an operator's `SELECT ... FOR UPDATE` left open, an instance
frozen in its transaction): the sweep's claim of a policy's lease, and the watch's heartbeat on its lease, waited
for it up to the store's lock timeout, one request after another, every pass. Now each waits a moment at most, skips
what it could not have, says so in the log, and tries again next time: with the lock timeout set far past the
test's bound, a timer that waits fails the test."""

from __future__ import annotations

import logging

import pytest
from approval_helpers import approvals_bot, sweep
from conftest import Bot, acked_while
from row_locks import held, lock_waits_long, on_postgresql
from test_requests import left_applying

from bot.adapters.store.rows import lease_key
from bot.adapters.store.watch import WATCH_LEASE
from bot.runtime.watch import build_watcher

__all__ = ["approvals_bot", "lock_waits_long", "on_postgresql"]  # fixtures, used by name

BOUND = 20.0


def test_a_held_policy_lease_row_is_skipped_by_the_sweep(lock_waits_long: None, approvals_bot: Bot,
                                                         on_postgresql: str, caplog: pytest.LogCaptureFixture) -> None:
    bot, store = approvals_bot, approvals_bot.deps.store
    rid = left_applying(bot)
    key = lease_key(store.get_request(rid))  # type: ignore[arg-type]  # its row made when it was asked
    with held(on_postgresql, "policy_leases", "policy_key", key), caplog.at_level(logging.WARNING):
        acked_while(lambda: sweep(bot), BOUND, "the sweep")  # skipped, not waited for
    assert store.get_request(rid).state == "applying"  # type: ignore[union-attr]
    assert f"could not claim request {rid}" in caplog.text and "next sweep" in caplog.text
    # A row held elsewhere is a wait the sweep is built to skip, not a fault: one line, no traceback.
    [said] = [r for r in caplog.records if f"could not claim request {rid}" in r.getMessage()]
    assert said.exc_info is None and "held by another session" in said.getMessage(), said.getMessage()
    sweep(bot)  # the lock given back: the next pass settles it
    assert store.get_request(rid).state == "applied"  # type: ignore[union-attr]


def test_a_held_watch_lease_row_is_skipped_by_the_heartbeat(lock_waits_long: None, approvals_bot: Bot,
                                                            on_postgresql: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    watcher = build_watcher(approvals_bot.deps, approvals_bot.app.client, every=60)
    watcher.keep_lease()
    assert watcher.run_once() is not None
    with held(on_postgresql, "watch_lease", "name", WATCH_LEASE), caplog.at_level(logging.WARNING):
        acked_while(watcher.keep_lease, BOUND, "the watch's heartbeat")  # skipped, not waited for
        assert acked_while(watcher.run_once, BOUND, "the watch's pass") is None
    assert "watch lease" in caplog.text and "next heartbeat" in caplog.text and "next pass" in caplog.text
    watcher.keep_lease()  # the lock given back: renewed, still this instance's
    assert watcher.run_once() is not None
