"""Issue 20 ("Nothing knocks it over"): a change applied at once is shown once in its channel and once in the
audit channel, whichever instance stops and wherever: the message its instance posted and recorded is not shown
again by another instance's sweep telling the end it left untold, and an audit entry it did not post yet is
posted by that sweep. Driven through Bolt's pipeline with the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import sweep, swept_later
from conftest import CHANNEL
from instance_ends import Died
from test_inbox import PROD, Instances, acked, instances

from bot.domain.change_requests import RequestState
from bot.emulators.slack import SlackState
from handlers.posting import AUDITED

__all__ = ["instances"]  # a fixture, used by name
AUDIT = "C0RANDOM01"  # a channel the emulator knows, other than the requests'


def shown_applied(slack: SlackState, channel: str) -> list[Any]:
    """Each time `channel` was shown the change applied: a message posted so, or updated to say so."""
    return [e for e in slack.events if e.kind in ("message", "update") and e.channel == channel
            and e.thread_ts is None and "changed the backup policy" in str(e.blocks)]


@pytest.mark.parametrize("later", [0, 600], ids=["at-once", "after-grace"])
@pytest.mark.parametrize("stops_at", ["mark_told", "audit"])
def test_a_change_posted_by_an_instance_that_stops_before_telling_all_of_it_is_shown_once(
        instances: Instances, slack: SlackState, monkeypatch: pytest.MonkeyPatch, stops_at: str,
        later: float) -> None:
    """The instance applies the change, posts its message and records where it is, then stops: before marking
    its end told, or before its audit entry. Another instance's sweep tells what is left, once, without showing
    the message again."""
    stopping, alive = instances.start(), instances.start()
    stopping.deps.audit_channel = alive.deps.audit_channel = AUDIT
    real_claim = stopping.deps.store.claim_notice

    def claim_notice(request_id: str, notice: str) -> bool:
        if notice == "audit":
            raise Died
        return real_claim(request_id, notice)

    def mark_told(*args: Any, **kwargs: Any) -> Any:
        raise Died

    if stops_at == "audit":
        monkeypatch.setattr(stopping.deps.store, "claim_notice", claim_notice)
    else:
        monkeypatch.setattr(stopping.deps.store, "mark_told", mark_told)
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d")) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.APPLIED])
    assert request.message_ts is not None and not request.told
    assert len(shown_applied(slack, CHANNEL)) == 1
    if later:
        swept_later(alive, later)
    else:
        sweep(alive)
    assert alive.executor.wait_idle(timeout=30)
    sweep(alive)
    assert [e.kind for e in shown_applied(slack, CHANNEL)] == ["message"]
    assert [e.kind for e in shown_applied(slack, AUDIT)] == ["message"]
    told = alive.deps.store.get_request(request.id)
    assert told is not None and told.told


@pytest.mark.parametrize("stops_at", ["audit:tried", AUDITED], ids=["before-the-post", "before-its-record"])
def test_an_audit_entry_left_by_an_instance_that_stopped_while_posting_it_is_posted_once(
        instances: Instances, slack: SlackState, monkeypatch: pytest.MonkeyPatch, stops_at: str) -> None:
    """The instance claims the audit entry and stops before posting it, or after Slack took it and before
    recording so: another instance's sweep, once the claim is old enough that its claimant cannot still be
    posting, looks in the audit channel and posts it only if Slack does not hold it. Never lost, never twice."""
    stopping, alive = instances.start(), instances.start()
    stopping.deps.audit_channel = alive.deps.audit_channel = AUDIT
    real_claim = stopping.deps.store.claim_notice

    def claim_notice(request_id: str, notice: str) -> bool:
        got = real_claim(request_id, notice)
        if notice == stops_at:
            raise Died
        return got

    monkeypatch.setattr(stopping.deps.store, "claim_notice", claim_notice)
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d")) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.APPLIED])
    sweep(alive)  # its claimant may still be posting: left to it
    assert len(shown_applied(slack, AUDIT)) == (1 if stops_at == AUDITED else 0)
    swept_later(alive, 600)
    sweep(alive)
    assert [e.kind for e in shown_applied(slack, CHANNEL)] == ["message"]
    assert [e.kind for e in shown_applied(slack, AUDIT)] == ["message"]
    told = alive.deps.store.get_request(request.id)
    assert told is not None and told.told
