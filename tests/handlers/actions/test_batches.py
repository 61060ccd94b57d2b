"""The buttons on a bulk change through Bolt, on SQLite and PostgreSQL: Reject, Cancel, one's own approval,
a second click, expiry by the sweep, and members a crash left behind finished by the sweep."""

from __future__ import annotations

import json

from approval_helpers import ALICE, BOB, CAROL, approvals_bot, direct_messages
from conftest import Bot

from bot.domain.batches import BatchState
from bot.domain.change_requests import RequestState
from bot.domain.outcomes import OutcomeKind
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import SlackEvent
from bot.runtime.sweeper import Sweeper
from handlers.asked import post_unposted
from handlers.bulk_blocks import BULK_APPROVE, BULK_CANCEL, BULK_REJECT
from handlers.bulk_posting import sweep_batches, sweep_reporter

__all__ = ["approvals_bot"]  # a fixture, used by name


def ask(bot: Bot, planetscale: PlanetScaleState, prefix: str, count: int = 2) -> tuple[SlackEvent, str]:
    for n in range(count):
        name = f"{prefix}-{n}"
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.command(f"update acme/{prefix}-* * retention=14d", user=ALICE)
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel in bot.slack.channels]
    batch_id = next(el["value"] for b in message.blocks for el in b.get("elements", [])
                    if el.get("action_id") == BULK_APPROVE)
    return message, batch_id


def shown(bot: Bot, message: SlackEvent) -> str:
    latest = [e for e in bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")][-1]
    return json.dumps(latest.blocks, ensure_ascii=False)


def sweep(bot: Bot) -> None:
    from functools import partial

    Sweeper(bot.deps.changes, sweep_reporter(bot.deps, bot.app.client),
            late_posts=partial(post_unposted, bot.deps, bot.app.client),
            batches=partial(sweep_batches, bot.deps, bot.app.client)).sweep()


def test_rejected_nothing_is_sent_and_the_requester_is_told(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message, batch_id = ask(approvals_bot, planetscale, "rej")
    approvals_bot.click(BULK_REJECT, batch_id, user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "Rejected by" in shown(approvals_bot, message) and BULK_APPROVE not in shown(approvals_bot, message)
    assert any("was rejected" in text for text in direct_messages(approvals_bot, ALICE))
    again = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert "already rejected" in again.all_text() and planetscale.calls("PATCH") == []
    assert [e.action for e in approvals_bot.audit.all() if e.action == "rejected"] == ["rejected", "rejected"]


def test_only_the_requester_cancels_and_nobody_approves_their_own(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message, batch_id = ask(approvals_bot, planetscale, "can")
    own = approvals_bot.click(BULK_APPROVE, batch_id, user=ALICE, message=message)
    assert "Nobody approves" in own.all_text()
    other = approvals_bot.click(BULK_CANCEL, batch_id, user=BOB, message=message)
    assert "Only the requester" in other.all_text()
    not_approver = approvals_bot.click(BULK_APPROVE, batch_id, user=BOB, message=message)
    assert "may not approve" in not_approver.all_text()
    approvals_bot.click(BULK_CANCEL, batch_id, user=ALICE, message=message)
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.CANCELLED
    assert planetscale.calls("PATCH") == []


def test_two_approvals_asked_a_second_approval_counts_once_and_the_second_applies(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(approvals_bot_rules(2))
    message, batch_id = ask(approvals_bot, planetscale, "two")
    first = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert "1 more approval" in first.all_text() and planetscale.calls("PATCH") == []
    assert "1 of 2" in shown(approvals_bot, message)
    twice = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert "each approver counts once" in twice.all_text() and planetscale.calls("PATCH") == []
    approvals_bot.click(BULK_APPROVE, batch_id, user="U0LEAD0002", message=message)
    assert len(planetscale.calls("PATCH")) == 2


def approvals_bot_rules(count: int) -> str:
    from approval_helpers import RULES

    return RULES.format(approvals=count)


def test_the_sweep_expires_a_bulk_change_past_its_time(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message, batch_id = ask(approvals_bot, planetscale, "exp")
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None
    approvals_bot.deps.changes.clock = lambda: batch.expires_at + 1
    sweep(approvals_bot)
    latest = approvals_bot.deps.store.get_batch(batch_id)
    assert latest is not None and latest.state is BatchState.EXPIRED
    assert "Expired" in shown(approvals_bot, message) and BULK_APPROVE not in shown(approvals_bot, message)
    assert any("was expired" in text for text in direct_messages(approvals_bot, ALICE))
    late = approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert "already expired" in late.all_text() and planetscale.calls("PATCH") == []


def test_members_a_crash_left_approved_are_applied_by_the_sweep_and_the_message_follows(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message, batch_id = ask(approvals_bot, planetscale, "crash")
    path = approvals_bot.deps.bulk
    applied: list[str] = []
    real = path._apply_one

    def crash_after_first(member, by):  # type: ignore[no-untyped-def]
        if applied:
            raise RuntimeError("the process stops between two members")
        applied.append(member.id)
        return real(member, by)

    path._apply_one = crash_after_first  # type: ignore[method-assign]
    try:
        approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    finally:
        path._apply_one = real  # type: ignore[method-assign]
    assert len(planetscale.calls("PATCH")) <= 1
    members = approvals_bot.deps.store.batch_members(batch_id)
    assert [m.request.state for m in members].count(RequestState.APPROVED) >= 1
    later = max(m.request.updated_at for m in members) + 3600
    approvals_bot.deps.changes.clock = lambda: later
    sweep(approvals_bot)
    members = approvals_bot.deps.store.batch_members(batch_id)
    assert all(m.request.state is RequestState.APPLIED for m in members)
    assert len(planetscale.calls("PATCH")) == 2
    assert "Applied to 2 of 2" in shown(approvals_bot, message)


def test_pending_lists_open_bulk_changes_with_the_buttons_each_person_may_use(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message, batch_id = ask(approvals_bot, planetscale, "pend")
    mine = approvals_bot.command("pending", user=ALICE).all_text()
    assert "Open bulk changes you can act on" in mine and BULK_CANCEL in mine and BULK_APPROVE not in mine
    theirs = approvals_bot.command("pending", user=CAROL).all_text()
    assert BULK_APPROVE in theirs and batch_id in theirs
    assert "Open bulk changes" not in approvals_bot.command("pending", user=BOB).all_text()  # no approver
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert "Open bulk changes" not in approvals_bot.command("pending", user=CAROL).all_text()


def test_a_finished_bulk_change_is_not_told_again_by_later_sweeps(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message, batch_id = ask(approvals_bot, planetscale, "told")
    planetscale.policies[("acme", "told-0")]["told-0-prod"]["target"] = "development"  # moved: a conflict
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    before = len(approvals_bot.slack.events)
    sweep(approvals_bot)
    sweep(approvals_bot)
    assert len(approvals_bot.slack.events) == before
    outcomes = {m.request.database: m.outcome for m in approvals_bot.deps.store.batch_members(batch_id)}
    assert outcomes == {"told-0": OutcomeKind.CONFLICT, "told-1": OutcomeKind.APPLIED}
