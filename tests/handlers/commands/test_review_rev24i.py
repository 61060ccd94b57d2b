"""Review rev24i of issue 24: a bulk change's policy sent back to waiting under its lease, then ended as a request
(rejected, or expired), must be told as ended on its bulk change, and an expired one offered again."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, direct_messages, sweep
from conftest import Bot
from test_bulk import button, channel_messages, latest, shown

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.blocks import REJECT
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot"]  # fixtures, used by name

WEEKLY = "bp02prodwk"  # production, weekly, kept 4 weeks; its latest backup 1.25 GB
LEAD2 = "U0LEAD0002"
OVERRIDE_BOUND = RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "7GB"
override_approvals = 2
"""


def waiting_member(bot: Bot, planetscale: PlanetScaleState) -> tuple[SlackEvent, str]:
    """A bulk change of one policy approved by carol, whose member waits for a second approval under the lease:
    its latest backup grew past the storage bound, which allows an override with two approvals."""
    bot.use_rules(OVERRIDE_BOUND)
    bot.command('update acme/app-db "Production w*" retention=5w reason="audit"', user=ALICE)
    [message] = channel_messages(bot)
    planetscale.add_backup("acme", "app-db", WEEKLY, size=2_000_000_000)
    bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    [member] = bot.deps.store.requests([RequestState.PENDING])
    assert "waiting: its rules now ask for more approvals" in shown(bot, message)
    return message, member.id


def test_a_bulk_policy_rejected_once_sent_back_to_waiting_is_not_told_still_in_progress(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """lead 2 rejects the waiting policy from `pending`: nothing is left in progress, yet the bulk change's
    message and alice's direct message said "Applied to 0 of 1; 1 still in progress" for good."""
    message, member = waiting_member(approvals_bot, planetscale)
    approvals_bot.click(REJECT, member, user=LEAD2)
    now = shown(approvals_bot, message)
    assert "still in progress" not in now, "a rejected policy is shown as still in progress"
    assert "Applied to 0 of 1* in 1 database; *1 not applied*" in now
    assert "bulk_retry" not in now, "a policy an approver rejected is offered again"
    told = " ".join(direct_messages(approvals_bot, ALICE))
    assert "1 not applied" in told and "still in progress" not in told


def test_a_bulk_policy_expired_once_sent_back_to_waiting_is_told_not_applied_and_offered_again(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Nobody gives the waiting policy its second approval and it expires: the message said it was still in
    progress and offered no Retry, though nothing would ever move it again."""
    message, member = waiting_member(approvals_bot, planetscale)
    request = approvals_bot.deps.store.get_request(member)
    assert request is not None
    later = request.expires_at + 1
    approvals_bot.deps.changes.clock = lambda: later
    approvals_bot.deps.store.clock = lambda: later
    sweep(approvals_bot)
    now = shown(approvals_bot, message)
    assert "still in progress" not in now, "an expired policy is shown as still in progress"
    assert "*1 not applied*" in now
    approvals_bot.click(BULK_RETRY, button(latest(approvals_bot, message), BULK_RETRY), user=ALICE, message=message)
    retried = channel_messages(approvals_bot)[-1]
    assert retried.ts != message.ts, "the expired policy is never asked again"
    assert "`app-db` *Production weekly*" in shown(approvals_bot, retried)
