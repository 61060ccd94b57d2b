"""Who approved a bulk change's policies, as the audit trail keeps it, driven through Bolt's pipeline with the
emulators (SQLite and PostgreSQL)."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, request_message, sending_details
from bulk_helpers import button
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackUser
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2, DAVE = "U0LEAD0002", "U0DAVE0001"
# The shared rules, one approval for production; development approved by dave alone, once.
SPLIT = RULES.format(approvals=1).removesuffix('approvers = ["@dba-leads"]\n') + \
    'approvers = ["U0DAVE0001"]\napprovals = 1\n'


def approvers_on_record(bot: Bot, batch_id: str) -> dict[str, list[str]]:
    """For each policy of the bulk change (by database): who the audit trail says approved its change."""
    members = {m.request.id: m.request.database for m in bot.deps.store.batch_members(batch_id)}
    found: dict[str, list[str]] = {database: [] for database in members.values()}
    for event in bot.audit.all():
        if event.action == "approved" and event.request_id in members:
            found[members[event.request_id]].append(event.actor)
    return found


def test_a_bulk_change_approved_by_two_keeps_both_approvals_on_the_audit_trail(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Production asks two approvals. carol and lead 2 approve alice's bulk change over pay-01 and pay-02, and it
    applies: each policy's trail must say both approved it, as a request approved by two does. Kept as one
    "approved by lead 2" per policy, the trail shows a production change applied on one person's approval."""
    for name in ("pay-01", "pay-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    approvals_bot.use_rules(RULES.format(approvals=2))
    approvals_bot.command('update acme/pay-* "Production daily" retention=14d', user=ALICE)
    message = request_message(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    approvals_bot.click(BULK_APPROVE, batch_id, user=LEAD2, message=message)
    assert planetscale.policy("acme", "pay-01", "pay-01-prod")["retention_value"] == 14
    on_record = approvers_on_record(approvals_bot, batch_id)
    assert on_record == {"pay-01": [CAROL, LEAD2], "pay-02": [CAROL, LEAD2]}, on_record


def test_a_bulk_changes_trail_names_as_approver_of_each_policy_only_who_may_approve_it(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Production is approved by @dba-leads, development by dave alone. lead 2 approves alice's bulk change over a
    production and a development policy (his approval counts for production only), then dave (for development
    only), and both apply. The trail must not say dave approved the production change, which the rules forbid
    him (neither as its approval nor on its sending), nor leave out lead 2, who did."""
    approvals_bot.slack.add_user(SlackUser(DAVE, "dave", "Dave", "dave@acme.example"))
    planetscale.add_database("acme", "pay-01")
    planetscale.add_policy("acme", "pay-01", "pay-01-prod", name="Daily", target="production")
    planetscale.add_database("acme", "pay-02")
    planetscale.add_policy("acme", "pay-02", "pay-02-dev", name="Daily", target="development")
    approvals_bot.use_rules(SPLIT)
    approvals_bot.command('update acme/pay-* "Daily" retention=14d', user=ALICE)
    message = request_message(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    approvals_bot.click(BULK_APPROVE, batch_id, user=LEAD2, message=message)
    approvals_bot.click(BULK_APPROVE, batch_id, user=DAVE, message=message)
    assert planetscale.policy("acme", "pay-01", "pay-01-prod")["retention_value"] == 14
    assert planetscale.policy("acme", "pay-02", "pay-02-dev")["retention_value"] == 14
    on_record = approvers_on_record(approvals_bot, batch_id)
    assert on_record == {"pay-01": [LEAD2], "pay-02": [DAVE]}, on_record
    [production] = [m.request for m in approvals_bot.deps.store.batch_members(batch_id)
                    if m.request.database == "pay-01"]
    assert production.decided_by == LEAD2
    sent = sending_details(approvals_bot, production.id)
    assert sent and not [d for d in sent if DAVE in d], sent
