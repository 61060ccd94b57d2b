"""Issue 20 ("Nothing knocks it over"): a change asked through the edit modal is shown once in its channel, as one
asked by command is: a queued change whose post the sweep made (it applied it meanwhile) is not posted again by
the modal's own run. Two instances on one database, the modal submitted through Bolt's pipeline (signed
view_submission payloads), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import swept_later
from conftest import ALICE, CHANNEL
from test_inbox import PROD, Instances, instances

from bot.domain.change_requests import ChangeRequest, RequestState
from bot.domain.changes import OutcomeKind
from bot.emulators.slack import SlackEvent, SlackState

__all__ = ["instances"]  # a fixture, used by name


def posted(slack: SlackState) -> list[SlackEvent]:
    """The messages posted in the requests' channel, beside any thread."""
    return [e for e in slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def test_a_queued_change_asked_in_the_modal_that_the_sweep_applied_and_posted_first_is_not_posted_again(
        instances: Instances, slack: SlackState, monkeypatch: pytest.MonkeyPatch) -> None:
    """Confirmed in the modal while another change holds the database, the change is queued; before its run
    posts it, the other change ends and another instance's sweep applies this one and posts it. The modal's
    run then finds the post made, and does not post a second copy."""
    queued, alive = instances.start(), instances.start()
    queued.command(f"edit acme/app-db {PROD}", user=ALICE)
    form = queued.current_view()
    preview = queued.submit(form, {"retention_value": "9", "retention_unit": "day"})
    confirm = preview.ack["view"]
    confirm["id"] = form["id"]  # Slack keeps the view's ID across response_action: update
    holding = ChangeRequest("acme", "app-db", PROD, "", "U0OTHER001", "C0OTHER001", {}, {}, 0, [], 0.0)
    held = queued.deps.store.claim_for_applying(holding, (), 60.0)
    assert held is not None
    instances.claims_wait_for_nothing()
    real_ask = queued.deps.changes.ask

    def ask(*args: Any, **kwargs: Any) -> Any:
        outcome = real_ask(*args, **kwargs)
        assert outcome.kind is OutcomeKind.QUEUED
        queued.deps.store.release(held)  # the other change ends, and the sweep applies this one
        swept_later(alive, 600)
        assert alive.executor.wait_idle(timeout=30)
        return outcome

    monkeypatch.setattr(queued.deps.changes, "ask", ask)
    before = len(posted(slack))
    queued.submit(confirm, {})
    [request] = alive.deps.store.requests([RequestState.APPLIED])
    assert request.message_ts is not None
    assert [e.ts for e in posted(slack)[before:]] == [request.message_ts]
    assert "Applied: the result is posted in the channel." in str(queued.current_view())
