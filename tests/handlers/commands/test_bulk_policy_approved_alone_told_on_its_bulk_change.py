"""A bulk change's policy sent back to waiting under its lease (its override's second approval owed) and approved on
its own from `pending` is told on the bulk change's message with the approvals that applied it, not only those
the bulk change's Approve gathered (rev24). Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import CAROL, approvals_bot
from conftest import Bot
from test_bulk import shown
from test_bulk_policy_sent_back_to_waiting import LEAD2, WEEKLY, waiting_member

from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_bulk_policy_approved_on_its_own_names_both_approvals_on_its_bulk_change(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approved the bulk change; its policy, past the storage bound by then, waited for the override's second
    approval, which lead 2 gave from `pending`, and it was applied. The bulk change's message, the record the
    channel keeps, said 'Approvals: 1 of 2 (carol)': an override applied on one approval, to whoever reads it."""
    message, member = waiting_member(approvals_bot, planetscale)
    approvals_bot.click(APPROVE, member, user=LEAD2)
    assert planetscale.policy("acme", "app-db", WEEKLY)["retention_value"] == 5
    now = shown(approvals_bot, message)
    assert "Applied to 1 of 1" in now
    assert f"*Approvals:* 2 of 2 (<@{CAROL}>, <@{LEAD2}>)" in now, now
