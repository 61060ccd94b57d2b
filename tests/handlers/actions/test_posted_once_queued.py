"""Issue 20 ("no request is ever lost"), the queued variant of tests/handlers/actions/test_posted_once_claimed.py:
a change that needs no approval, asked while another change holds its policy, is stored approved for the sweep
(queued). Its run stops right after claiming its post: a later sweep applies it and, once the claim is older than
POST_GRACE, posts it once. And a queued request found already stored by a run of the same work (one run stalled
while another instance redid it) is still answered privately to its requester. Two instances on one database,
driven through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from approval_helpers import sweep, swept_later
from conftest import ALICE, CHANNEL
from instance_ends import dies_after
from test_inbox import PROD, Instances, acked, instances, keeper_of, retention

from bot.adapters.store.inbox import LEASE_SECONDS
from bot.domain.applying import QUEUED_BEHIND
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.lifecycle import APPROVED_STALE_SECONDS
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent, SlackState
from handlers.late_post import POST_GRACE, POSTING

__all__ = ["instances"]  # a fixture, used by name


def posted(slack: SlackState) -> list[SlackEvent]:
    """The messages posted in the requests' channel, beside any thread."""
    return [e for e in slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def private(slack: SlackState) -> list[str]:
    """What alice was told at her command's response URL or as an ephemeral."""
    return [e.text or "" for e in slack.events if e.kind in ("response", "ephemeral") and e.user in (ALICE, None)]


def hold_policy(instances: Instances) -> Any:
    """Another change holds the policy's lease: a change asked now is queued at once."""
    holding = ChangeRequest("acme", "app-db", PROD, "", "U0OTHER001", "C0OTHER001", {}, {}, 0, [], 0.0)
    held = instances.start().deps.store.claim_for_applying(holding, (), 60.0)
    assert held is not None
    instances.claims_wait_for_nothing()
    return held


def test_a_queued_request_whose_run_stopped_after_claiming_its_post_is_posted_once_by_a_later_sweep(
        instances: Instances, slack: SlackState, planetscale: PlanetScaleState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The run stores the request approved (its inbox work done with it), claims its post and stops. The other
    change ends; another instance's sweep applies the queued change, and once POST_GRACE has passed posts it,
    once; later sweeps do not post it again."""
    held = hold_policy(instances)
    stopping, alive = instances.start(), instances.start()
    dies_after(monkeypatch, stopping.deps.store, "claim_notice", lambda request_id, notice: notice == POSTING)
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.APPROVED])
    assert request.message_ts is None and posted(slack) == []
    alive.deps.store.release(held)  # the other change ends
    keeper_of(alive, LEASE_SECONDS + 1).step()  # nothing to redo: stored with the request
    swept_later(alive, APPROVED_STALE_SECONDS + 1)  # applies it; its claimant may be posting still
    assert alive.executor.wait_idle(timeout=30)
    assert retention(planetscale) == 9 and len(planetscale.calls("PATCH")) == 1
    assert posted(slack) == []
    swept_later(alive, POST_GRACE + 1)
    assert alive.executor.wait_idle(timeout=30)
    swept_later(alive, 2 * POST_GRACE + 2)
    assert alive.executor.wait_idle(timeout=30)
    [message] = posted(slack)
    assert "retention" in (message.text or "") + str(message.blocks)
    latest = alive.deps.store.get_request(request.id)
    assert latest is not None and latest.state is RequestState.APPLIED and latest.message_ts == message.ts
    assert len(planetscale.calls("PATCH")) == 1


def test_a_queued_request_found_stored_by_a_redo_of_its_work_is_answered_to_its_requester(
        instances: Instances, slack: SlackState, planetscale: PlanetScaleState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run stalls just before storing its queued request; its inbox lease lapses and another instance
    redoes the work, storing and posting the request. The stalled run then finds it stored: it sends nothing,
    posts nothing more, and alice is still told privately where her change stands."""
    held = hold_policy(instances)
    stalled, alive = instances.start(), instances.start()
    real_add = stalled.deps.store.add_request
    go_on, waiting = threading.Event(), threading.Event()

    def add_request(*args: Any, **kwargs: Any) -> ChangeRequest:
        waiting.set()
        assert go_on.wait(timeout=60)
        return real_add(*args, **kwargs)

    monkeypatch.setattr(stalled.deps.store, "add_request", add_request)
    assert acked(stalled, stalled.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    assert waiting.wait(timeout=30)
    keeper_of(alive, LEASE_SECONDS + 1).step()  # the redo stores it queued, posts it, answers
    assert alive.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.APPROVED])
    told = len(private(slack))
    assert QUEUED_BEHIND in "".join(private(slack)), private(slack)
    go_on.set()
    assert stalled.executor.wait_idle(timeout=30)
    later = private(slack)[told:]
    assert len(later) == 1 and "approved" in later[0], later  # the stalled run answers too, where it stands
    assert len(posted(slack)) == 1 and planetscale.calls("PATCH") == []
    assert [r.id for r in alive.deps.store.requests([RequestState.APPROVED])] == [request.id]
    alive.deps.store.release(held)
    sweep(alive)
