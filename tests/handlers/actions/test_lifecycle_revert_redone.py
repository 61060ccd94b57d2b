"""Issue 19: a Revert of a creation or a deletion whose work is redone (its instance stopped after storing the
revert, before posting it) is shown, as a revert of an update is: the redone work finds the revert its first run
stored and posts it, rather than answering that it is asked already. Two instances on one database, through
Bolt's pipeline and the emulators."""

from __future__ import annotations

import json

import pytest
from approval_helpers import ALICE, CAROL, request_id
from instance_ends import dies_after
from test_inbox import ASKING, Instances, acked, instances, keeper_of

from bot.adapters.store.inbox import LEASE_SECONDS
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState
from handlers.blocks import APPROVE, REVERT

__all__ = ["instances"]  # a fixture, used by name

MADE = 'name="Prod nightly" target=production retention=14d frequency=1d at=01:00 reason="audit"'


@pytest.mark.parametrize("kind", ["create", "delete"])
def test_a_revert_of_a_creation_or_deletion_stored_before_its_instance_stopped_is_posted_when_redone(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState, monkeypatch: pytest.MonkeyPatch,
        kind: str) -> None:
    """alice's creation (or deletion) of a policy, approved by carol, is applied; she clicks its Revert, which asks
    the policy's deletion (or its making again), needing an approval. Her instance stores that request and stops
    before posting it; another instance redoes the click's work. The revert must be posted for its approvers,
    not answered "already asked" while nobody has seen it."""
    stopping, alive = instances.start(rules=ASKING), instances.start(rules=ASKING)
    alive.command(f"create acme/app-db {MADE}" if kind == "create" else "delete acme/app-db bp02prodwk",
                  user=ALICE)
    assert alive.executor.wait_idle(timeout=30)
    [asked] = [e for e in slack.events if e.kind == "message" and e.thread_ts is None and e.channel == "C0DBAOPS01"]
    alive.click(APPROVE, request_id(asked), user=CAROL, message=asked)
    assert alive.executor.wait_idle(timeout=30)
    assert {r.state for r in alive.deps.store.requests(list(RequestState))} == {RequestState.APPLIED}
    shown = [e for e in slack.events if e.ts == asked.ts and e.kind in ("message", "update")]
    [revert] = [e for b in shown[-1].blocks for e in b.get("elements", []) if e.get("action_id") == REVERT]
    dies_after(monkeypatch, stopping.deps.store, "add_request")
    assert acked(stopping, stopping.click_body(REVERT, revert["value"], user=ALICE, message=shown[-1])) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = [r for r in alive.deps.store.requests([RequestState.PENDING]) if r.revert_of]
    keeper_of(alive, LEASE_SECONDS + 1).step()
    assert alive.executor.wait_idle(timeout=30)
    posted = [e for e in slack.events if e.kind == "message" and request.id in json.dumps(e.blocks or [])]
    told = [e.text for e in slack.events if e.kind == "response" and "already asked" in (e.text or "")]
    assert posted, f"the revert is pending, unseen by any approver; alice was told: {told}"
    assert len(alive.deps.store.requests([RequestState.PENDING])) == 1
