"""The sweep's doors (judging again, recovering an approved request) count an approval on the groups as they are
when it judges, as a click does: an approver taken out of a Slack user group while the bot's listing (cached for a
minute) still names them counts no more at the sweep than at a click. Through Bolt's pipeline and the emulators,
on SQLite and PostgreSQL; the groups' cache on a clock the test moves."""

from __future__ import annotations

from access_rules import production_asks
from approval_helpers import ALICE, CAROL, PROD, RULES, approvals_bot, ask, policy_busy, request_id, swept_later
from bulk_helpers import button, channel_messages
from conftest import Bot
from test_approval_after_removal_from_a_group import on_a_clock, removed, state_of

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_the_sweep_does_not_apply_a_change_on_the_approval_of_someone_taken_out_of_the_group(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Two approvals of @dba-leads asked: carol, a lead, approves at 10 s (1 of 2); she is taken out of @dba-leads
    at 30 s and the rules then ask one approval. The sweep at 59 s judges it again while the minute's listing still
    names her: the production change must not be sent on her approval, as her click at 59 s would not be."""
    approvals_bot.use_rules(RULES.format(approvals=2))
    now = on_a_clock(approvals_bot)
    message = ask(approvals_bot)
    rid = request_id(message)
    now[0] = 10.0
    approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    assert state_of(approvals_bot, rid) is RequestState.PENDING
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    approvals_bot.use_rules(production_asks(1))
    now[0] = 59.0
    swept_later(approvals_bot, 700)
    assert planetscale.calls("PATCH") == [], "the sweep sent a production change on the approval of someone no " \
                                             "longer in the group that may approve it"
    assert state_of(approvals_bot, rid) is RequestState.PENDING


def test_the_sweep_does_not_apply_a_queued_change_on_the_approval_of_someone_taken_out_of_the_group(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves at 10 s while another change holds the policy: approved, queued for the sweep. She is taken
    out of @dba-leads at 30 s; the sweep at 59 s applies it while the minute's listing still names her: the
    production change must not be sent on her approval, as one judged at a click after her removal is not."""
    now = on_a_clock(approvals_bot)
    message = ask(approvals_bot)
    rid = request_id(message)
    now[0] = 10.0
    with policy_busy(approvals_bot, PROD):
        approvals_bot.click(APPROVE, rid, user=CAROL, message=message)
    assert state_of(approvals_bot, rid) is RequestState.APPROVED
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    now[0] = 59.0
    swept_later(approvals_bot, 700)
    assert planetscale.calls("PATCH") == [], "the sweep sent a queued production change on the approval of " \
                                             "someone no longer in the group that may approve it"
    assert state_of(approvals_bot, rid) is RequestState.PENDING


def test_the_sweep_does_not_apply_a_bulk_change_on_the_approval_of_someone_taken_out_of_the_group(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A bulk change of production policies asks two approvals of @dba-leads: carol approves at 10 s, is taken out
    at 30 s, and the rules then ask one. The sweep at 59 s must not apply it on her approval."""
    approvals_bot.use_rules(RULES.format(approvals=2))
    now = on_a_clock(approvals_bot)
    approvals_bot.command('update acme/* "Production daily" retention=3d reason="audit"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    now[0] = 10.0
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    approvals_bot.use_rules(production_asks(1))
    now[0] = 59.0
    swept_later(approvals_bot, 700)
    assert planetscale.calls("PATCH") == [], "the sweep sent a bulk change on the approval of someone no longer " \
                                             "in the group that may approve it"
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.PENDING, batch
