"""A click on a bulk change that reads it while another click applies its policies (a Cancel, an Approve on
another instance) shows them "applying" on its message. When Slack took that update after the applying click had
shown each policy's end, the message said "applying" for good: nothing showed it again. Now a bulk message
updated with a standing that has moved on since is shown again as it stands, as a request's is
(test_a_message_shown_mid_apply_is_shown_again_once_it_ends.py). Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from approval_helpers import ALICE, CAROL, approvals_bot, latest_view, sweep
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot
from test_a_message_shown_mid_apply_is_shown_again_once_it_ends import until, updates

from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.bulk_blocks import BULK_APPROVE, BULK_CANCEL

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_bulk_click_shown_as_applying_after_its_policies_were_shown_applied_is_shown_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    ask_bulk_of_two(bot, planetscale)
    [message] = channel_messages(bot)
    batch_id = button(message, BULK_APPROVE)
    patch_held, update_held = threading.Event(), threading.Event()
    planetscale.add_fault(Fault(method="PATCH", until=patch_held))
    approving = threading.Thread(target=bot.click, args=(BULK_APPROVE, batch_id),
                                 kwargs={"user": CAROL, "message": message})
    approving.start()
    until(lambda: planetscale.calls("PATCH"), "carol's approval never sent its change")
    before = updates(bot)
    held = MethodFault("chat.update", until=update_held, times=1)
    with bot.slack.lock:
        bot.slack.faults.append(held)
    # Alice's Cancel reads the bulk change applying, and shows it so: Slack holds that update for a moment.
    cancelling = threading.Thread(target=bot.click, args=(BULK_CANCEL, batch_id),
                                  kwargs={"user": ALICE, "message": message})
    cancelling.start()
    until(lambda: updates(bot) > before, "alice's click showed nothing")
    patch_held.set()
    until(lambda: updates(bot) > before + 1, "the applied policies were never shown")
    update_held.set()
    for thread in (approving, cancelling):
        thread.join(60)
    assert held.carried_out.is_set()
    batch = bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.APPROVED
    assert planetscale.policy("acme", "one-1", "one-1-prod")["retention_value"] == 14
    assert "applying" not in latest_view(bot, message), "applied policies shown as still applying"
    sweep(bot)
    assert "applying" not in latest_view(bot, message)
