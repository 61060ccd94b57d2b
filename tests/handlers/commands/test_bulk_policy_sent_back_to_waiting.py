"""A bulk change's policy sent back to waiting under its lease, then ended as a request (rejected, or expired), is
told as ended on its bulk change, and an expired one offered again; a request waiting only for a guardrail's
override approvals is not judged "apply" by the sweep on no facts."""

from __future__ import annotations

import time

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, direct_messages, sweep
from bulk_helpers import grown_before_applying
from conftest import Bot
from test_bulk import button, channel_messages, latest, shown

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.blocks import APPROVE, REJECT
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
    its latest backup grew past the storage bound, which allows an override with two approvals, after carol's
    approval read it and before the member was applied."""
    bot.use_rules(OVERRIDE_BOUND)
    bot.command('update acme/app-db "Production w*" retention=5w reason="audit"', user=ALICE)
    [message] = channel_messages(bot)
    with grown_before_applying(bot, planetscale, WEEKLY, 2_000_000_000):
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


def sweeps_later(bot: Bot, count: int) -> None:
    """`count` sweeps, each past the time a request's step is left before the sweep judges it again."""
    now = [time.time()]
    bot.deps.changes.clock = lambda: now[0]
    bot.deps.store.clock = lambda: now[0]
    for _ in range(count):
        now[0] += 120
        sweep(bot)


def test_the_sweep_does_not_apply_a_request_still_short_of_its_guardrail_override(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The storage bound is broken (2 GB backups, 5 weeks kept: over 7 GB) and allows it with two approvals and a
    reason; carol gives one. The sweep judged it again on no facts, found only the rule's one approval asked, and
    claimed it: under the lease it waited again. Every sweep for its whole life: a `waiting` entry in the trail,
    its message rewritten, three PlanetScale reads, and "Judged again, not applied yet" in its thread, though
    nobody did anything."""
    approvals_bot.use_rules(OVERRIDE_BOUND)
    planetscale.add_backup("acme", "app-db", WEEKLY, size=2_000_000_000)
    approvals_bot.command('update acme/app-db "Production weekly" retention=5w reason="audit"', user=ALICE)
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    assert request.approvals_needed == 2
    approvals_bot.click(APPROVE, request.id, user=CAROL)
    trail = [e.action for e in approvals_bot.deps.store.events_of_request(request.id)]
    said = len(approvals_bot.slack.events)
    sweeps_later(approvals_bot, 3)
    assert [e.action for e in approvals_bot.deps.store.events_of_request(request.id)] == trail, \
        "the sweep approved it and sent it back to waiting, again and again"
    assert not [e for e in approvals_bot.slack.events[said:] if e.kind == "message"]
    assert planetscale.calls("PATCH") == []
    approvals_bot.click(APPROVE, request.id, user=LEAD2)
    assert planetscale.policy("acme", "app-db", WEEKLY)["retention_value"] == 5


def test_the_sweep_leaves_a_bulk_policy_waiting_for_its_override_waiting(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The same through a bulk change: its policy, sent back to waiting under the lease for the override's
    second approval, was claimed and sent back again by every sweep."""
    _, member = waiting_member(approvals_bot, planetscale)
    trail = [e.action for e in approvals_bot.deps.store.events_of_request(member)]
    sweeps_later(approvals_bot, 3)
    assert [e.action for e in approvals_bot.deps.store.events_of_request(member)] == trail
    assert planetscale.calls("PATCH") == []


def test_an_approval_under_a_floor_added_since_is_judged_on_the_policies_there_now(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice asks to delete the weekly production policy (two production policies then). A floor of two is added
    after, and a third production policy made in the dashboard: deleting one now leaves two. carol's approval was
    judged on the two read when it was asked, refused, and closed the request, where applying (which reads the
    policies again under the lease) would have sent it: the mirror of rev24h's storage bound."""
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="replaced"', user=ALICE)
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_policies = 2
""")
    planetscale.add_policy("acme", "app-db", "bp09prodnew", name="Production hourly", target="production")
    approvals_bot.click(APPROVE, request.id, user=CAROL)
    latest_request = approvals_bot.deps.store.get_request(request.id)
    assert latest_request is not None
    assert latest_request.state is RequestState.APPLIED, latest_request.detail
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]
