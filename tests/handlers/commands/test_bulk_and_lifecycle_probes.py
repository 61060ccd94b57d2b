"""Bulk changes, creation and deletion tried as an adversary (rev24y): a deletion of a policy PlanetScale made
required since it was asked, a bulk policy whose PATCH the gateway answered 504 but PlanetScale carried out, and
a creation answered 429 then tried again. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot, latest_view, request_id, request_message, sweep
from bulk_helpers import button, channel_messages, latest
from conftest import Bot
from test_bulk import add_databases, policy, shown

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot"]  # a fixture, used by name

WEEKLY = "bp02prodwk"  # production, not required


def test_a_deletion_of_a_policy_made_required_since_it_was_asked_sends_nothing(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="replaced"', user=ALICE)
    message = request_message(approvals_bot)
    planetscale.policies[("acme", "app-db")][WEEKLY]["required"] = True
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("DELETE") == []
    assert WEEKLY in planetscale.policies[("acme", "app-db")]
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED
    assert "required system policy" in latest_view(approvals_bot, message)
    assert any(e.action == "failed" and e.request_id == request.id for e in approvals_bot.audit.all())


def test_a_bulk_policy_whose_patch_was_answered_504_but_landed_is_told_applied_and_not_offered_again(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    dbs = add_databases(planetscale, "gate", 3)
    approvals_bot.command('update acme/gate-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.add_fault(Fault(status=504, method="PATCH", path_contains=f"/databases/{dbs[1]}/", landed=True))
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert all(policy(planetscale, db)["retention_value"] == 14 for db in dbs)
    view = shown(approvals_bot, message)
    line = next(line for line in view.split("\\n") if f"`{dbs[1]}`" in line)
    assert "PlanetScale failed" not in line and "not applied" not in line, line
    # The gateway's 504 was answered; the read after it found the change there.
    assert all(f.times == 0 for f in planetscale.faults)
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    members = {m.request.database: m.request for m in store.batch_members(button(message, BULK_APPROVE))}
    assert all(r.state is RequestState.APPLIED for r in members.values()), {d: r.state for d, r in members.items()}
    final = latest(approvals_bot, message)
    assert "Applied to 3 of 3" in shown(approvals_bot, final), shown(approvals_bot, final)
    assert not any(e.get("action_id") == BULK_RETRY for b in final.blocks for e in b.get("elements", [])
                   if isinstance(e, dict))
    assert len(planetscale.calls("PATCH")) == 3
    applied = [e.database for e in approvals_bot.audit.all() if e.action == "applied"]
    assert sorted(applied) == dbs


def test_a_creation_answered_429_is_sent_again_once_and_makes_one_policy(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    planetscale.add_fault(Fault(status=429, method="POST", retry_after="1"))
    approvals_bot.command('create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00',
                          user=ALICE)
    made = [p for p in planetscale.policies[("acme", "app-db")].values() if p["name"] == "Nightly"]
    assert len(made) == 1
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED and request.policy_id == made[0]["id"]


def test_a_bulk_move_of_a_policy_made_required_since_it_was_asked_sends_nothing_for_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "sys", 2)
    approvals_bot.command('update acme/sys-* "Development daily" target=production reason="promote"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    policy(planetscale, dbs[0], "dev")["required"] = True
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert policy(planetscale, dbs[0], "dev")["target"] == "development"
    assert policy(planetscale, dbs[1], "dev")["target"] == "production"
    assert [c.path for c in planetscale.calls("PATCH")] == [
        f"/organizations/acme/databases/{dbs[1]}/backup-policies/{dbs[1]}-dev"]
    line = next(line for line in shown(approvals_bot, message).split("\\n") if f"`{dbs[0]}`" in line)
    assert "required system policy" in line, line
