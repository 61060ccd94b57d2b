"""A pending bulk change whose channel the access rules no longer allow (a channel restriction added to its rules
since it was asked) is refused by the judge for every policy: closed as refused, with its records, its message
without buttons, the clicker and its requester told why, at an approver's click and at the sweep's turn; not left
to wait its whole life for approvals no approver can give, every approver told only "use #db-ops" (review rev19v;
the single request's case is test_a_request_its_channel_no_longer_allows_is_closed)."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, direct_messages, latest_view, swept_later
from bulk_helpers import button
from conftest import Bot

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

RANDOM = "C0RANDOM01"
OPS_AND_RANDOM = RULES.format(approvals=1).replace('channels = ["C0DBAOPS01"]',
                                                  'channels = ["C0DBAOPS01", "C0RANDOM01"]')
OPS_ONLY = RULES.format(approvals=1)
CLOSED = "may no longer make this change"


def asked_in_random(bot: Bot) -> tuple[SlackEvent, str]:
    bot.use_rules(OPS_AND_RANDOM)
    bot.command('update acme/* "Production daily" retention=14d', user=ALICE, channel=RANDOM)
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None and e.channel == RANDOM]
    bot.use_rules(OPS_ONLY)  # the restriction to #db-ops added since
    return message, button(message, BULK_APPROVE)


def closed_as_refused(bot: Bot, batch_id: str, message: SlackEvent) -> None:
    batch = bot.deps.bulk.store.get_batch(batch_id)
    assert batch is not None
    assert batch.state is BatchState.REFUSED, "left waiting for approvals no approver can give"
    shown = latest_view(bot, message)
    assert "no longer allow" in shown and BULK_APPROVE not in shown, "its message still offers Approve"
    assert any(CLOSED in text for text in direct_messages(bot, ALICE)), "its requester not told why"
    records = [e for e in bot.deps.store.events() if e.action == BatchState.REFUSED.value
               and e.actor == "backup-bot"]
    assert records and all(CLOSED in (e.detail or "") for e in records), "closed without its records"


def test_an_approval_click_closes_a_bulk_change_its_channel_no_longer_allows(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message, batch_id = asked_in_random(approvals_bot)
    reply = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, channel=RANDOM, message=message)
    assert CLOSED in reply.all_text(), "the approver told only to use #db-ops, for a change they cannot move"
    closed_as_refused(approvals_bot, batch_id, message)
    swept_later(approvals_bot, 700)
    assert not planetscale.calls("PATCH")


def test_the_sweep_closes_a_bulk_change_its_channel_no_longer_allows(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message, batch_id = asked_in_random(approvals_bot)
    swept_later(approvals_bot, 700)  # its turn to be judged again, no approval given
    closed_as_refused(approvals_bot, batch_id, message)
    assert "Expired" not in latest_view(approvals_bot, message)
    assert not planetscale.calls("PATCH")



def test_a_bulk_change_its_channel_no_longer_allows_for_some_policies_goes_on_for_the_others(
        approvals_bot: Bot) -> None:
    """Only some policies refused: approved for the others, the refused ones not applied with the judge's reason
    at their own step (as before this fix)."""
    message, batch_id = asked_in_random(approvals_bot)
    batch = approvals_bot.deps.bulk.store.get_batch(batch_id)
    assert batch is not None and len(batch.databases) > 1, "needs policies on two databases"
    first, others = batch.databases[0], batch.databases[1:]
    rule = RULES.format(approvals=1).split("[[rules]]")[1]
    approvals_bot.use_rules(  # #random no longer allowed for the first database's policies only
        '[approvals]\nexpire_after = "24h"\n\n[[rules]]' + rule.replace('databases = ["*"]', f'databases = ["{first}"]')
        + "[[rules]]" + rule.replace('databases = ["*"]', f"databases = {others!r}".replace("'", '"'))
        .replace('channels = ["C0DBAOPS01"]', 'channels = ["C0DBAOPS01", "C0RANDOM01"]'))
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, channel=RANDOM, message=message)
    latest = approvals_bot.deps.bulk.store.get_batch(batch_id)
    assert latest is not None and latest.state is BatchState.APPROVED, "closed whole, though some may still go"
    ended = {m.request.database: m.request.state for m in approvals_bot.deps.bulk.store.batch_members(batch_id)}
    assert ended == {first: RequestState.FAILED, **dict.fromkeys(others, RequestState.APPLIED)}
    assert CLOSED in latest_view(approvals_bot, message), "the refused one shown without the judge's reason"


def test_each_policy_of_a_bulk_change_closed_as_refused_is_recorded_with_its_own_reason(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """The judge's reason names each policy's database: each record says its own, not the first policy's."""
    message, batch_id = asked_in_random(approvals_bot)
    swept_later(approvals_bot, 700)
    closed_as_refused(approvals_bot, batch_id, message)
    records = [e for e in approvals_bot.deps.store.events() if e.action == BatchState.REFUSED.value
               and e.actor == "backup-bot"]
    assert len({e.database for e in records}) > 1, "needs policies on two databases"
    for e in records:
        assert f"acme/{e.database} to be handled" in (e.detail or ""), (e.database, e.detail)
