"""A change that needs no approval, asked while another change holds its policy, is stored approved for the sweep
(queued), its inbox work done with it. Its run stops right after storing it, or right after claiming its post:
nothing redoes the work, yet its requester is told how it ended (a direct message), its channel shows it once and
the audit channel records it once. Two instances on one database, through Bolt's pipeline, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import swept_later
from conftest import ALICE, CHANNEL
from instance_ends import dies_after
from test_inbox import PROD, Instances, acked, instances, keeper_of, retention
from test_posted_once_queued import hold_policy

from bot.adapters.store.inbox import LEASE_SECONDS
from bot.domain.change_requests import RequestState
from bot.domain.lifecycle import APPROVED_STALE_SECONDS
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState
from handlers.late_post import POST_GRACE, POSTING

__all__ = ["instances"]  # a fixture, used by name

AUDIT = "C0RANDOM01"


def messages_in(slack: SlackState, channel: str) -> list[str]:
    return [e.text or "" for e in slack.events if e.kind == "message" and e.channel == channel
            and e.thread_ts is None]


@pytest.mark.parametrize("stops_at", ["stored", "post claimed"])
def test_a_queued_change_whose_run_stopped_is_applied_posted_once_and_told_to_its_requester(
        instances: Instances, slack: SlackState, planetscale: PlanetScaleState,
        monkeypatch: pytest.MonkeyPatch, stops_at: str) -> None:
    held = hold_policy(instances)
    stopping, alive = instances.start(), instances.start()
    alive.deps.audit_channel = AUDIT
    store = stopping.deps.store
    if stops_at == "stored":
        dies_after(monkeypatch, store, "add_request")
    else:
        dies_after(monkeypatch, store, "claim_notice", lambda _request_id, notice: notice == POSTING)
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.APPROVED])
    assert messages_in(slack, CHANNEL) == []
    alive.deps.store.release(held)  # the other change ends
    keeper_of(alive, LEASE_SECONDS + 1).step()  # nothing to redo: stored with the request
    for later in (APPROVED_STALE_SECONDS + 1, POST_GRACE + 1, 2 * POST_GRACE + 2, 3 * POST_GRACE + 3):
        swept_later(alive, later)
        assert alive.executor.wait_idle(timeout=30)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert len(messages_in(slack, CHANNEL)) == 1
    told = messages_in(slack, slack.dm_channel(ALICE))
    assert len(told) == 1 and "was applied" in told[0], told
    assert len(messages_in(slack, AUDIT)) == 1
    latest = alive.deps.store.get_request(request.id)
    assert latest is not None and latest.state is RequestState.APPLIED and latest.told
