"""A change needing no approval queued behind another, whose post Slack took without the bot hearing so, and
which the sweep applies later (handlers/late_post.py), is not posted again. Driven through Bolt's pipeline with
the emulators (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from approval_helpers import ALICE, BOB, approvals_bot, latest_view, swept_later
from conftest import Bot

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, Fault, PlanetScaleState
from bot.emulators.slack import MethodFault

__all__ = ["approvals_bot"]  # a fixture, used by name

RANDOM = "C0RANDOM01"
DEV = "bp03devday"  # development, daily: no approval asked


def test_a_queued_change_whose_post_slack_took_unheard_is_not_posted_again_when_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's change to the development policy goes unconfirmed, so the policy waits for the sweep; bob's
    `retention=9d` (no approval needed) is queued behind it and posted in #random, but Slack answers that post
    after the bot gave up waiting (it took it: a message showing bob's change queued). The sweep applies bob's
    change and, finding no message known, posts it again without looking: #random shows bob's change twice, one
    of them queued for good."""
    changes = approvals_bot.deps.changes
    real: Any = changes.planetscale
    quick = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, real.base_url, timeout=httpx.Timeout(0.3),
                              retry=RetryPolicy(attempts=1), sleep=lambda _: None)
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, method="PATCH", times=1))
    changes.planetscale = quick
    try:
        approvals_bot.command(f"update acme/app-db {DEV} at=05:00", user=ALICE, channel=RANDOM)
    finally:
        changes.planetscale = real
        held.set()
        deadline = time.monotonic() + 60
        while planetscale.policies[("acme", "app-db")][DEV]["schedule_time"] != "05:00" and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        quick.close()
    # Slack takes bob's post, and answers it once the bot has stopped waiting (the client's 10 s read timeout).
    answered = threading.Event()
    unheard = MethodFault("chat.postMessage", until=answered, channel=RANDOM, in_thread=False)
    approvals_bot.slack.add_fault(unheard)
    try:
        approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=BOB, channel=RANDOM)
        assert unheard.times == 0, "bob's change was not posted while he asked"
    finally:
        answered.set()
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] != 9  # queued behind alice's
    [bobs] = [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.requester == BOB]
    deadline = time.monotonic() + 60
    while not shown(approvals_bot, bobs.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(shown(approvals_bot, bobs.id)) == 1  # Slack took it, unheard
    for later in (300, 600, 900):
        swept_later(approvals_bot, later)
    assert approvals_bot.executor.wait_idle(timeout=30)
    done = approvals_bot.deps.store.get_request(bobs.id)
    assert done is not None and done.state is RequestState.APPLIED
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] == 9
    assert len(shown(approvals_bot, bobs.id)) == 1, "bob's change posted twice in #random, one copy still queued"
    [message] = shown(approvals_bot, bobs.id)
    view = latest_view(approvals_bot, message)
    assert "applying" not in view.lower() and "applied" in view.lower(), view


def shown(bot: Bot, request_id: str) -> list[Any]:
    """The top-level messages in #random posted for `request_id` (their metadata names it)."""
    return [e for e in bot.slack.events if e.kind == "message" and e.channel == RANDOM and e.thread_ts is None
            and request_id in str(e.metadata)]
