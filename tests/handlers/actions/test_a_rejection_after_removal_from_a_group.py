"""An approver taken out of the Slack user group that lets them approve may no longer reject either: their Reject
is judged on the groups listed after the click, as their Approve is, not on the minute's cached listing made
before their removal (a request, and a bulk change's policies). Through Bolt's pipeline, on SQLite and
PostgreSQL; the groups' cache on a clock the test moves."""

from __future__ import annotations

from approval_helpers import CAROL, approvals_bot, ask, request_id
from bulk_helpers import button, channel_messages
from conftest import ALICE, Bot
from test_approval_after_removal_from_a_group import on_a_clock, removed

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import REJECT
from handlers.bulk_blocks import BULK_REJECT

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_reject_by_someone_since_taken_out_of_the_group_closes_nothing(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    now = on_a_clock(approvals_bot)
    message = ask(approvals_bot)
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    now[0] = 59.0
    reply = approvals_bot.click(REJECT, request_id(message), user=CAROL, message=message)
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.PENDING, "rejected by someone no longer an approver"
    assert "may not" in reply.all_text(), reply.all_text()


def test_a_bulk_reject_by_someone_since_taken_out_of_the_group_closes_nothing(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    now = on_a_clock(approvals_bot)
    approvals_bot.command('update acme/* "Production daily" retention=3d reason="audit"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch_id = button(message, BULK_REJECT)
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    now[0] = 59.0
    approvals_bot.click(BULK_REJECT, batch_id, user=CAROL, message=message)
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.PENDING and batch.live == batch.planned, \
        "rejected by someone no longer an approver"
