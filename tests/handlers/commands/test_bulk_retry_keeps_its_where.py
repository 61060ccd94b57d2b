"""A bulk change's Retry asks only what the change named: with `--where target=production`, a policy that failed
because it moved to development meanwhile is not changed by the Retry (development may need no approval, so the
Retry would send it at once); the others that failed are asked again. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot
from bulk_helpers import button, channel_messages, latest
from conftest import Bot
from test_bulk import add_databases, patched, policy

from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_a_retry_leaves_out_a_policy_moved_out_of_the_where_target_and_asks_the_others_again(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    moved, failing, fine = add_databases(planetscale, "where", 3)
    approvals_bot.command('update acme/where-* * retention=14d --where target=production', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.dashboard_change("acme", moved, f"{moved}-prod", target="development")
    planetscale.add_fault(Fault(status=403, method="PATCH", path_contains=f"/databases/{failing}/"))
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert policy(planetscale, fine)["retention_value"] == 14 and policy(planetscale, failing)["retention_value"] == 2
    shown = latest(approvals_bot, message)
    reply = approvals_bot.click(BULK_RETRY, button(shown, BULK_RETRY), user=ALICE, message=shown)
    # The failed production policy is asked again (waiting for its approval); the moved one is left out, saying why.
    assert policy(planetscale, moved)["retention_value"] == 2
    assert all(f"/databases/{moved}/" not in path for path in patched(planetscale))
    text = reply.all_text() + "".join(e.text + str(e.blocks) for e in channel_messages(approvals_bot))
    assert "now a development policy" in text and "--where target=production" in text, text
    [retry] = [m for m in channel_messages(approvals_bot) if m.ts != message.ts]
    approvals_bot.click(BULK_APPROVE, button(retry, BULK_APPROVE), user=CAROL, message=retry)
    assert policy(planetscale, failing)["retention_value"] == 14 and policy(planetscale, moved)["retention_value"] == 2
    assert policy(planetscale, moved, "dev")["retention_value"] == 3  # never named


def test_a_retry_of_a_change_without_where_asks_a_moved_policy_again_under_its_new_targets_rules(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    [moved] = add_databases(planetscale, "nowhere", 1)
    approvals_bot.command('update acme/nowhere-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.dashboard_change("acme", moved, f"{moved}-prod", target="development")
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert patched(planetscale) == []
    shown = latest(approvals_bot, message)
    approvals_bot.click(BULK_RETRY, button(shown, BULK_RETRY), user=ALICE, message=shown)
    # Asked again as the message said to: development's rules ask no approval.
    assert policy(planetscale, moved)["retention_value"] == 14
