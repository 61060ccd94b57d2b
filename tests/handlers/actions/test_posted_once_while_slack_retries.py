"""The late post of a change applied at once (handlers/late_post.py) is told once while its own post is still
being retried. Driven through Bolt's pipeline with the emulators, two instances on one database, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
from approval_helpers import ALICE, swept_later
from conftest import CHANNEL
from test_inbox import PROD, Instances, acked, instances

from bot.adapters.slack_http import LONGEST_CALL, LONGEST_WAIT, TIMEOUT
from bot.adapters.within import one_try_seconds
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackState
from handlers.late_post import POST_GRACE

__all__ = ["instances"]  # a fixture, used by name

# One try of a Slack call may take the client's timeouts summed (bot/adapters/within.py, one_try_seconds: 4 × 10 s);
# a 429's Retry-After is waited up to 30 s (SlackHttp.longest_wait), twice (retries=2). Here each 429 came after
# all of its 40 s, and the third try is taken by Slack at the very end of its own 40: the other instance sweeps
# one second before, when the post is still in flight (POST_GRACE was 120 s).
ONE_TRY = one_try_seconds(httpx.Timeout(TIMEOUT))


def posted_in_channel(slack: SlackState) -> list[Any]:
    return [e for e in slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def test_a_change_applied_at_once_whose_own_post_is_still_being_retried_is_not_posted_twice(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState) -> None:
    """alice's change needs no approval; her instance applies it and claims its post ('posting'). Slack, rate
    limiting the channel, answers its post 429 twice, slowly, each with Retry-After: 30; the retries SlackHttp makes
    took its post past the POST_GRACE of 120 s (said to be longer than a post and its retries take). Another instance's
    sweep takes the claim over, finds nothing in the channel's history (Slack took nothing yet) and posts it; then
    alice's instance's third try lands: the change is shown twice in its channel."""
    applying, sweeping = instances.start(), instances.start()
    slack.faults.append(MethodFault("chat.postMessage", status=429, retry_after=30, times=2, in_thread=False,
                                    channel=CHANNEL))
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the applying instance's waits between tries: the other instance sweeps
        waits.append(seconds)
        if len(waits) == 2:  # 40 + 30 + 40 + 30 s since the claim, and the third try's 40 but one
            swept_later(sweeping, 3 * ONE_TRY + sum(waits) - 1)
            assert sweeping.executor.wait_idle(timeout=30)

    applying.app.client.http.sleep = sleep
    assert 3 * ONE_TRY + 2 * LONGEST_WAIT == LONGEST_CALL < POST_GRACE
    assert acked(applying, applying.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    assert applying.executor.wait_idle(timeout=30)
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 9
    assert waits == [30, 30], waits
    assert len(posted_in_channel(slack)) == 1, "shown twice in its channel: by the sweep and by its own instance"
