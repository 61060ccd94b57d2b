"""Who the record names as having decided a request the sweep applies, and a change asked by an ID that is gone
reaching the policy now named so. Driven through Bolt's pipeline with the emulators (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from access_rules import admin_asks, production_asks
from approval_helpers import (
    ALICE,
    CAROL,
    PROD,
    approvals_bot,
    ask,
    policy_busy,
    request_id,
    sending_details,
    swept_later,
)
from conftest import Bot

from bot.domain.audit import AuditEvent
from bot.domain.change_requests import ChangeRequest, RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2 = "U0LEAD0002"
ROLE_RULES = admin_asks(2)
CAROL_ONLY = production_asks(1, "U0CAROL001")


def applied_on_carols_approval(bot: Bot, message: SlackEvent) -> ChangeRequest:
    """The rules change to carol alone approving, once; the sweep ten minutes on applies the request, decided by
    carol."""
    bot.use_rules(CAROL_ONLY)
    swept_later(bot)
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED
    assert request.decided_by == CAROL, f"decided by {request.decided_by}, whose approval no longer counts"
    return request


def test_a_request_the_sweep_applies_is_decided_by_an_approval_that_still_counts(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol and lead 2 approve alice's production change while PlanetScale's members cannot be read: it stays
    pending with both approvals. The rules then change: carol alone approves production, one approval. The sweep
    judges it again and applies it on carol's approval, the only one that counts; the record must name carol as
    who decided it (and as the approver its sending names), not lead 2, whose approval the rules no longer
    count."""
    approvals_bot.use_rules(ROLE_RULES)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    planetscale.add_fault(Fault(status=503, path_contains="/members", times=None))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    planetscale.faults.clear()
    assert planetscale.calls("PATCH") == []
    request = applied_on_carols_approval(approvals_bot, message)
    sent = sending_details(approvals_bot, request.id)
    assert sent and not [d for d in sent if "Lead 2" in d or LEAD2 in d], sent
    assert ALICE not in (request.decided_by or "")


DEV = "bp03devday"


def test_b_a_change_asked_by_a_gone_id_that_another_policy_is_named_is_applied_under_that_policys_lease(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """The development policy with ID bp03devday is deleted in PlanetScale, and another is created named
    "bp03devday". alice's `retention=9d` asked by that ref reaches the policy named so (an ID that is gone is no
    policy's): applied at once, under that policy's lease, never told another change holds it."""
    planetscale.dashboard_delete("acme", "app-db", DEV)
    planetscale.add_policy("acme", "app-db", "bp09newdev1", name=DEV, target="development")
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert "holds" not in reply.all_text(), reply.all_text()
    assert planetscale.policy("acme", "app-db", "bp09newdev1")["retention_value"] == 9, reply.all_text()


def test_b2_a_change_asked_by_a_gone_id_whose_lease_is_held_reaches_the_policy_named_so(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """As above, while a change to the gone policy still holds its lease (its PATCH in flight when the policy
    was deleted). alice's change is to the policy named "bp03devday", which nothing holds."""
    planetscale.dashboard_delete("acme", "app-db", DEV)
    planetscale.add_policy("acme", "app-db", "bp09newdev1", name=DEV, target="development")
    with policy_busy(approvals_bot, DEV):
        reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert planetscale.policy("acme", "app-db", "bp09newdev1")["retention_value"] == 9, reply.all_text()


def test_c_a_request_whose_worker_stopped_before_sending_is_not_recorded_as_applied_by_the_bot(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol approves alice's production change; the bot's database fails on the write that marks it sending (the
    PATCH never leaves). Meanwhile someone sets the same retention in PlanetScale's dashboard. The sweep finds the
    request applying and PlanetScale holding its values, and records it applied by the bot ("confirmed by reading
    the policy after"), told so in the channel, though the bot never sent it."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    store = approvals_bot.deps.store
    real_renew = store.renew

    def renew(claim: Any, lease_seconds: float, record: AuditEvent | None = None) -> bool:
        if record is not None and record.action == "sending":
            raise RuntimeError("the bot's database went away")
        return real_renew(claim, lease_seconds, record=record)

    store.renew = renew  # type: ignore[method-assign]
    try:
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    finally:
        store.renew = real_renew  # type: ignore[method-assign]
    assert planetscale.calls("PATCH") == []
    planetscale.dashboard_change("acme", "app-db", PROD, retention_value=5, retention_unit="day")
    swept_later(approvals_bot)
    request = store.get_request(request_id(message))
    assert request is not None and request.state is not RequestState.APPLYING
    assert planetscale.calls("PATCH") == []
    assert request.state is not RequestState.APPLIED, "recorded applied by the bot, which sent nothing"
    told = [e.detail or "" for e in approvals_bot.audit.all() if e.request_id == request.id]
    assert not [d for d in told if "confirmed by reading the policy" in d], told


def test_a_request_approved_while_its_policy_was_held_and_applied_by_the_sweep_names_its_approver(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol approves alice's production change while another change holds the policy: it is queued, and the
    sweep applies it later. The audit trail's sending and applied entries must name carol as who approved it,
    never the bot, which approves nothing."""
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    with policy_busy(approvals_bot, PROD):
        approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    swept_later(approvals_bot)
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 5
    details = {e.action: e.detail or "" for e in approvals_bot.audit.all()
               if e.request_id == request_id(message) and e.action in ("sending", "applied")}
    assert set(details) == {"sending", "applied"}, details
    assert all("backup-bot" not in d and CAROL in d for d in details.values()), details


def test_a_queued_request_applied_by_the_sweep_on_the_approvals_that_still_count_names_one_of_them(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Production asks two approvals; carol approves, then lead 2 completes them while another change holds the
    policy: queued. The rules then change: carol alone approves production, one approval. The sweep applies it
    on carol's approval; the record must say carol decided it and approved its sending, not lead 2, whose
    approval the rules no longer count."""
    approvals_bot.use_rules(ROLE_RULES.replace('planetscale_role = "admin"\n', ""))
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    with policy_busy(approvals_bot, PROD):
        approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert planetscale.calls("PATCH") == []
    request = applied_on_carols_approval(approvals_bot, message)
    sent = sending_details(approvals_bot, request.id)
    assert sent == [f"approved by @{CAROL}"], sent
