"""The lease around an applying change at its edges: a worker whose PATCH went unconfirmed still holds the policy
while it reads PlanetScale to settle it, so no sweep (of this or another instance) settles it a second time."""

from __future__ import annotations

from typing import Any

from approval_helpers import CAROL, PROD, approvals_bot, ask, request_id
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.domain.ports import Unreachable
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_an_unconfirmed_patch_keeps_its_lease_while_it_is_settled(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    changes = approvals_bot.deps.changes
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    slowest = changes.planetscale.worst_case_seconds()
    real_client, real_find = changes.planetscale, changes.policies.find_policy
    reads: list[str] = []
    swept: list[Any] = []

    def slow_find(db: Any, ref: str, visible: Any = None, listed: Any = None) -> Any:
        reads.append(ref)
        if len(reads) == 1:
            # Judging read slowly (retries), yet left enough of the lease for the PATCH: it is not renewed.
            now[0] += slowest - 10
        elif len(reads) == 2:
            # The read that settles the unconfirmed PATCH is slow too; meanwhile another instance sweeps.
            now[0] += slowest - 50
            swept.extend(changes.recover())
        return real_find(db, ref, visible, listed)

    class Lossy:
        def worst_case_seconds(self) -> float:
            return slowest

        def update_policy(self, organization: str, database: str, policy_id: str, update: Any) -> Any:
            planetscale.policies[(organization, database)][policy_id].update(retention_value=5, retention_unit="day")
            now[0] += slowest  # the PATCH landed, and its answer was lost after every retry
            raise Unreachable("PlanetScale did not answer in time: the change may or may not have been applied.")

    changes.policies.find_policy = slow_find  # type: ignore[method-assign]
    changes.planetscale = Lossy()  # type: ignore[assignment]
    try:
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    finally:
        changes.planetscale, changes.policies.find_policy = real_client, real_find  # type: ignore[method-assign]
    assert swept == [], "the sweep took over a request whose worker was still settling it"
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED
    applied = [e for e in approvals_bot.audit.all() if e.request_id == request.id and e.action == "applied"]
    assert len(applied) == 1


def test_a_policy_id_too_long_for_planetscales_paths_is_refused_in_words_when_asked(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """PlanetScale lists a policy whose ID (300 characters) no path of its API can name: the judge refuses a change
    to it when it is asked, in words, so nothing is stored, leased or sent (rather than "PlanetScale did not confirm
    the change" and a request left applying, its policy's lease key, shortened, never found again)."""
    long_id = "bp" + "x" * 300
    planetscale.add_policy("acme", "app-db", long_id, name="Long", target="development")
    reply = approvals_bot.command("update acme/app-db Long retention=5d")
    assert "cannot send any change to it" in reply.all_text() and "did not confirm" not in reply.all_text()
    assert planetscale.calls("PATCH") == []
    assert approvals_bot.deps.store.requests(list(RequestState)) == []
