"""Issue 20 ("no request is ever lost"): a request asked for approval whose run stopped after claiming its post
and before making it is posted in its channel by a later sweep, once its claim is too old for that run to be
posting still; the run redoing its work answers the person who asked. Two instances on one database, driven
through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import sweep, swept_later
from conftest import ALICE, CHANNEL
from instance_ends import dies_after
from test_inbox import ASKING, PROD, Instances, acked, instances, keeper_of

from bot.adapters.store.inbox import LEASE_SECONDS
from bot.domain.change_requests import RequestState
from bot.emulators.slack import SlackEvent, SlackState
from handlers import blocks
from handlers.late_post import POST_GRACE, POSTING

__all__ = ["instances"]  # a fixture, used by name


def posted(slack: SlackState) -> list[SlackEvent]:
    """The messages posted in the requests' channel, beside any thread."""
    return [e for e in slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def test_a_pending_request_whose_run_stopped_after_claiming_its_post_is_posted_by_a_later_sweep(
        instances: Instances, slack: SlackState, monkeypatch: pytest.MonkeyPatch) -> None:
    """The change needs an approval. Its run claims the request's post and stops; another instance's keeper
    redoes its work and finds the post claimed. Once POST_GRACE has passed, that instance's sweep posts the
    request, with its buttons, once; later sweeps do not post it again."""
    stopping, alive = instances.start(rules=ASKING), instances.start(rules=ASKING)
    dies_after(monkeypatch, stopping.deps.store, "claim_notice", lambda request_id, notice: notice == POSTING)
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    stopping.executor.wait_idle(timeout=30)
    keeper_of(alive, LEASE_SECONDS + 1).step()
    assert alive.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.PENDING])
    assert request.message_ts is None and posted(slack) == []
    assert any("needs 1 approval" in (e.text or "") for e in slack.events
               if e.kind in ("ephemeral", "response"))  # the redo answered who asked
    sweep(alive)
    assert posted(slack) == []  # its claimant may be posting still
    swept_later(alive, POST_GRACE + 1)
    assert alive.executor.wait_idle(timeout=30)
    swept_later(alive, 2 * POST_GRACE + 2)
    [message] = posted(slack)
    assert blocks.APPROVE in str(message.blocks)
    latest = alive.deps.store.get_request(request.id)
    assert latest is not None and latest.message_ts == message.ts
