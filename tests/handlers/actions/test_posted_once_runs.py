"""Issue 20 ("Nothing knocks it over"): a change needing no approval is shown once in its channel whichever run
of its work or sweep gets there first. A queued change whose post the sweep made (it applied it meanwhile) is not
posted again by its own run; a change applied by a run that stopped before posting it is posted by the run that
redoes its work, not marked told unposted. Two instances on one database, driven through Bolt's pipeline, on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from approval_helpers import swept_later
from conftest import ALICE, CHANNEL
from instance_ends import Died
from test_inbox import ASKING, PROD, Instances, acked, instances, keeper_of

from bot.adapters.store.inbox import LEASE_SECONDS
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.emulators.slack import SlackEvent, SlackState
from handlers.late_post import POSTING

__all__ = ["instances"]  # a fixture, used by name


def posted(slack: SlackState) -> list[SlackEvent]:
    """The messages posted in the requests' channel, beside any thread."""
    return [e for e in slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def test_a_queued_change_the_sweep_applied_and_posted_first_is_not_posted_again_by_its_run(
        instances: Instances, slack: SlackState, monkeypatch: pytest.MonkeyPatch) -> None:
    """Queued behind another change, the run stalls before it claims the post; meanwhile another instance's sweep
    applies the change and posts it. The run then finds the post claimed, and does not post a second copy."""
    queued, alive = instances.start(), instances.start()
    holding = ChangeRequest("acme", "app-db", PROD, "", "U0OTHER001", "C0OTHER001", {}, {}, 0, [], 0.0)
    held = queued.deps.store.claim_for_applying(holding, (), 60.0)
    assert held is not None
    instances.claims_wait_for_nothing()
    real_claim = queued.deps.store.claim_notice

    def claim_notice(request_id: str, notice: str) -> bool:
        if notice == POSTING and held is not None and not held.released:
            queued.deps.store.release(held)  # the other change ends, and the sweep applies this one
            swept_later(alive, 600)
            assert alive.executor.wait_idle(timeout=30)
        return real_claim(request_id, notice)

    monkeypatch.setattr(queued.deps.store, "claim_notice", claim_notice)
    assert acked(queued, queued.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    assert queued.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.APPLIED])
    assert held.released and request.message_ts is not None
    assert [e.ts for e in posted(slack)] == [request.message_ts]


def test_a_change_applied_by_a_run_that_stopped_before_posting_it_is_posted_by_its_redo(
        instances: Instances, slack: SlackState, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run stalls as it stores the change, and another instance's keeper takes its work over; the first
    run applies it and stops before claiming its post. The redo finds it applied: it posts the message in the
    channel (once) and tells its end as a sweep would, rather than marking it told with nothing shown."""
    stopping, alive = instances.start(), instances.start()
    died = threading.Event()
    real_add, real_get = stopping.deps.store.add_request, alive.deps.store.get_request

    def add_request(*args: Any, **kwargs: Any) -> Any:
        keeper = keeper_of(alive, LEASE_SECONDS + 1)
        taking = threading.Thread(target=keeper.step)  # a thread of its own: none of this work's context
        taking.start()
        taking.join()
        return real_add(*args, **kwargs)

    def claim_notices(*args: Any, **kwargs: Any) -> Any:
        died.set()
        raise Died

    def get_request(request_id: str) -> Any:
        assert died.wait(timeout=30)  # the redo reads what the first run stored once that run has stopped
        return real_get(request_id)

    monkeypatch.setattr(stopping.deps.store, "add_request", add_request)
    monkeypatch.setattr(stopping.deps.store, "claim_notices", claim_notices)
    monkeypatch.setattr(alive.deps.store, "get_request", get_request)
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    stopping.executor.wait_idle(timeout=30)
    assert died.is_set() and alive.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.APPLIED])
    assert request.message_ts is not None and request.told
    assert [e.ts for e in posted(slack)] == [request.message_ts]
    assert "changed the backup policy" in str(posted(slack)[0].blocks)


def test_a_pending_request_whose_first_run_stalled_after_storing_it_is_posted_once(
        instances: Instances, slack: SlackState, monkeypatch: pytest.MonkeyPatch) -> None:
    """The change needs an approval. Its first run stalls as it stores the request, and another instance's keeper
    takes its work over; the redo finds the request stored pending and unposted, while the first run goes on to
    post it too. The request is posted in its channel once."""
    stalling, alive = instances.start(rules=ASKING), instances.start(rules=ASKING)
    stored = threading.Event()
    real_add, real_get = stalling.deps.store.add_request, alive.deps.store.get_request

    def add_request(*args: Any, **kwargs: Any) -> Any:
        keeper = keeper_of(alive, LEASE_SECONDS + 1)
        taking = threading.Thread(target=keeper.step)  # a thread of its own: none of this work's context
        taking.start()
        taking.join()
        got = real_add(*args, **kwargs)
        stored.set()
        return got

    def get_request(request_id: str) -> Any:
        assert stored.wait(timeout=30)  # the redo reads what the first run stored
        return real_get(request_id)

    monkeypatch.setattr(stalling.deps.store, "add_request", add_request)
    monkeypatch.setattr(alive.deps.store, "get_request", get_request)
    assert acked(stalling, stalling.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    assert stalling.executor.wait_idle(timeout=30) and alive.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.PENDING])
    assert request.message_ts is not None
    assert [e.ts for e in posted(slack)] == [request.message_ts]
