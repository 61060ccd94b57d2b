"""A bulk change's approval is on the audit trail at its click, one `approved` entry per policy it counts for,
written with the approval (bot/domain/bulk.py `approve`), as a single request's is (Store.add_approval). Found by
review rev19: it was recorded only once the whole bulk change was approved, so an approval given to one then
cancelled, rejected or left to expire was kept in `batch_approvals` alone. Recorded once: a second click by the
same approver and the bulk change's approval write none again (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, request_message
from bulk_helpers import button
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE, BULK_CANCEL

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2 = "U0LEAD0002"


def asked_over_two(bot: Bot, planetscale: PlanetScaleState) -> tuple[str, object]:
    """alice's bulk change over pay-01 and pay-02, production, two approvals asked: its ID and message."""
    for name in ("pay-01", "pay-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.use_rules(RULES.format(approvals=2))
    bot.command('update acme/pay-* "Production daily" retention=14d', user=ALICE)
    message = request_message(bot)
    return button(message, BULK_APPROVE), message


def approvals_on_record(bot: Bot) -> Counter[tuple[str, str]]:
    """(approver, database) of each `approved` entry on the trail."""
    return Counter((e.actor, e.database) for e in bot.audit.all() if e.action == "approved")


def test_an_approval_of_a_bulk_change_cancelled_after_it_is_on_the_audit_trail(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol approves alice's bulk change (twice: the second counts nothing); alice cancels it. The trail must say
    carol approved each policy, once, as it does for a single request approved and then cancelled, and `history`
    must say it."""
    batch_id, message = asked_over_two(approvals_bot, planetscale)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    approvals_bot.click(BULK_CANCEL, batch_id, user=ALICE, message=message)
    assert planetscale.calls("PATCH") == []
    on_record = approvals_on_record(approvals_bot)
    assert on_record == {(CAROL, "pay-01"): 1, (CAROL, "pay-02"): 1}, on_record
    said = approvals_bot.command("history acme/pay-01").all_text()
    assert f"<@{CAROL}> approved the change to" in said and "cancelled the change to" in said, said


def test_a_bulk_change_approved_to_its_end_has_each_approval_on_the_trail_once(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """carol approves (twice), then lead 2, and the change applies: exactly one `approved` entry per policy per
    approver, each under its policy's request."""
    batch_id, message = asked_over_two(approvals_bot, planetscale)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    approvals_bot.click(BULK_APPROVE, batch_id, user=LEAD2, message=message)
    assert planetscale.policy("acme", "pay-02", "pay-02-prod")["retention_value"] == 14
    on_record = approvals_on_record(approvals_bot)
    assert on_record == {(a, d): 1 for a in (CAROL, LEAD2) for d in ("pay-01", "pay-02")}, on_record
    members = {m.request.id: m.request.database for m in approvals_bot.deps.store.batch_members(batch_id)}
    under = sorted((members.get(e.request_id or ""), e.actor) for e in approvals_bot.audit.all()
                   if e.action == "approved")
    assert under == sorted((d, a) for a in (CAROL, LEAD2) for d in ("pay-01", "pay-02")), under
