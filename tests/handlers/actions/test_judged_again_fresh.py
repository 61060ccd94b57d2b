"""Issue 19: a write judged again by its fence (after it waited) leaves only on a read of the policy made after
every wait of that judging: the look-ups the judge needs (a PlanetScale role) come before the read, never after
it. Through Bolt's pipeline and the emulators."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest
from access_rules import guardrail, storage_bound
from approval_helpers import ALICE, CAROL, PROD, RULES, approvals_bot, ask, request_id
from conftest import Bot
from waits import Waits, sleeps

from bot.domain.change_requests import RequestState
from bot.domain.ports import FRESH_SECONDS
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "sleeps"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval
WEEKLY = "bp02prodwk"  # production, and not a required policy: it may be deleted
# As the shared rules, and a development change is asked only by a PlanetScale admin (alice is one).
ADMIN_DEV = RULES.format(approvals=1) + 'planetscale_role = "admin"\n'


@pytest.fixture(autouse=True)
def held_clocks(approvals_bot: Bot) -> None:
    """The bot's clocks held still unless a test moves them: a read goes stale past FRESH_SECONDS only when a test
    says so, never because a loaded machine was slow between a read and its write (a judging more, a look-up
    more, and the waits in another order)."""
    now = time.time()
    approvals_bot.deps.changes.clock = approvals_bot.deps.store.clock = lambda: now


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_a_write_judged_again_is_not_sent_on_a_read_made_before_the_judges_role_look_up_waited(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits, method: str) -> None:
    """alice (a PlanetScale admin) asks a change of a development policy, which needs no approval. Its write is
    refused unread (429) and waits, so its fence reads the policy again and judges it again; the judge then looks
    up alice's PlanetScale role, and that look-up waits too (429, Retry-After: 2), while the policy is moved to
    production, where a change needs an approval. The write leaves on the fence's read, made before that wait:
    onto a production policy with no approval."""
    approvals_bot.use_rules(ADMIN_DEV)
    sleeps.at[2] = partial(planetscale.dashboard_change, "acme", "app-db", DEV, target="production")
    planetscale.add_fault(Fault(status=429, method=method, times=1, retry_after="3"))
    # The role is looked up when the change is asked (and, for a deletion, asked without the lease, once more when
    # it applies); the next look-up, the fence's, waits.
    planetscale.add_fault(Fault(status=429, method="GET", path_contains="/members", times=1,
                                skip=1 if method == "PATCH" else 2, retry_after="2"))
    text = f"update acme/app-db {DEV} retention=9d" if method == "PATCH" else f"delete acme/app-db {DEV}"
    reply = approvals_bot.command(text, user=ALICE)
    assert sleeps == [3.0, 2.0], sleeps  # the write waited, then the fence's role look-up, as the policy moved
    assert DEV in planetscale.policies[("acme", "app-db")], (
        f"a DELETE reached a production policy with no approval: {reply.all_text()}")
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production", reply.all_text()
    assert policy["retention_value"] != 9 and len(planetscale.calls(method)) == 1, (
        f"a {method} reached a production policy with no approval: {reply.all_text()}")
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED, reply.all_text()
    assert "Nothing was sent" in reply.all_text() or "Not applied" in reply.all_text(), reply.all_text()


def test_a_deletion_judged_again_after_its_wait_counts_the_policies_read_under_its_lease_not_when_asked(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits) -> None:
    """alice asks to delete "Production weekly" while app-db has two production policies; carol approves it after
    "Production daily" was moved to development in PlanetScale, so it is the last production policy. Its DELETE
    is refused unread (429) and waits, and meanwhile a floor of one production policy is added to the access file.
    Judged again before it leaves, the deletion must count the policies read under its lease (none left in
    production), not those listed when it was asked (one left): it would delete app-db's last production policy
    under a floor that forbids it."""
    message = ask(approvals_bot, f"delete acme/app-db {WEEKLY}")
    planetscale.dashboard_change("acme", "app-db", PROD, target="development")
    planetscale.add_fault(Fault(status=429, method="DELETE", times=1, retry_after="3"))
    sleeps.at[1] = partial(approvals_bot.use_rules, RULES.format(approvals=1) + guardrail("production", min_policies=1))
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert sleeps == [3.0], sleeps  # the DELETE waited, and the floor came meanwhile
    assert WEEKLY in planetscale.policies[("acme", "app-db")], (
        f"app-db's last production policy was deleted under a floor of one: {reply.all_text()}")
    assert len(planetscale.calls("DELETE")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and "Nothing was sent" in reply.all_text(), reply.all_text()


def test_a_write_judged_again_is_not_sent_after_its_lease_renewal_stalled_past_a_fresh_read(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's no-approval retention=9d on a development policy: its PATCH is refused unread (429) and waits, so
    its fence reads the policy again (that read waits too, 429, while the lease runs short) and judges it again.
    The fence then renews the lease before the PATCH leaves, and that write stalls in the database for longer
    than a read stays fresh, while the policy is moved to production: the PATCH must not leave on the read made
    before the stall."""
    now = [time.time()]
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    changes.clock = store.clock = lambda: now[0]
    short = changes.lease_seconds - 2 * changes.planetscale.worst_case_seconds() + 1

    def lease_runs_short() -> None:
        now[0] += short

    sleeps.at[2] = lease_runs_short  # the fence's read waited: less than two slowest calls left of the lease
    real, renewed = store.renew, []

    def renew(claim: Any, lease_seconds: float, record: Any = None) -> Any:
        done = real(claim, lease_seconds, record=record)
        if record is None and len(sleeps) == 2:
            renewed.append(claim)
            planetscale.dashboard_change("acme", "app-db", DEV, target="production")
            now[0] += FRESH_SECONDS + 1  # the renewal's stall, after its write
        return done

    monkeypatch.setattr(store, "renew", renew)
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    # The policies are listed once when the change is asked; the fence's read is the next listing.
    planetscale.add_fault(Fault(status=429, method="GET", path_ends="/backup-policies", times=1, skip=1,
                                retry_after="2"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert sleeps == [3.0, 2.0] and renewed, (sleeps, renewed)
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production", reply.all_text()
    assert policy["retention_value"] != 9 and len(planetscale.calls("PATCH")) == 1, (
        f"a PATCH reached a production policy with no approval: {reply.all_text()}")
    [request] = store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED, reply.all_text()


def test_a_write_judged_again_under_a_storage_bound_added_while_it_waited_is_judged_on_its_backups(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits) -> None:
    """alice's no-approval retention=9d on a development policy (about 11 GB kept, from 4 GB) is judged under its
    lease with no storage bound, so its backups are only read beside it, for the message. Its PATCH is refused
    unread (429) and waits, and meanwhile a 5 GB bound on development is added to the access file. Judged again
    before it leaves, under that bound, the change must be judged on its backups: without them the bound reads as
    "not estimated" and the PATCH goes past it."""
    sleeps.at[1] = partial(approvals_bot.use_rules, RULES.format(approvals=1) + storage_bound("development", "5GB"))
    planetscale.add_fault(Fault(status=429, method="PATCH", times=1, retry_after="3"))
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert sleeps == [3.0], sleeps
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] != 9, (
        f"a PATCH went past a storage bound in force as it left: {reply.all_text()}")
    assert len(planetscale.calls("PATCH")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and "Nothing was sent" in reply.all_text(), reply.all_text()


def test_a_deletion_judged_again_after_its_wait_counts_the_policies_as_its_fresh_read_lists_them(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: Waits) -> None:
    """A floor of one production policy, and app-db has two: alice's deletion of "Production weekly", approved by
    carol, is judged under its lease with one left. Its DELETE is refused unread (429) and waits, and meanwhile
    "Production daily" is moved to development in PlanetScale. The fence's fresh read lists the policies again:
    judged on that list, the deletion would leave no production policy."""
    approvals_bot.use_rules(RULES.format(approvals=1) + guardrail("production", min_policies=1))
    message = ask(approvals_bot, f"delete acme/app-db {WEEKLY}")
    planetscale.add_fault(Fault(status=429, method="DELETE", times=1, retry_after="3"))
    sleeps.at[1] = partial(planetscale.dashboard_change, "acme", "app-db", PROD, target="development")
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert sleeps == [3.0], sleeps
    assert WEEKLY in planetscale.policies[("acme", "app-db")], (
        f"app-db's last production policy was deleted under a floor of one: {reply.all_text()}")
    assert len(planetscale.calls("DELETE")) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED and "Nothing was sent" in reply.all_text(), reply.all_text()
