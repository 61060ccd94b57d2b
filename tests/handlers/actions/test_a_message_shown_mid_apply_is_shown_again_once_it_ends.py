"""A click that reads a request while another click applies it (a Cancel, an Approve on another instance) shows it
"Applying…" on its message. When that update reached Slack after the applying click had shown the request applied
(Slack slow or holding the update for a moment), the message said "Applying" for good: the end was claimed as shown,
so neither the sweep nor anyone else showed it again. Found by test_change_path_machine (two instances, a chat.update
Slack failed once). Now a message updated with a state that has moved on since is shown again as it stands. Through
Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

from approval_helpers import ALICE, CAROL, approvals_bot, ask, latest_view, request_id, sweep
from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE, CANCEL

__all__ = ["approvals_bot"]  # a fixture, used by name


def updates(bot: Bot) -> int:
    return len([m for m, _ in bot.slack.calls if m == "chat.update"])


def until(done: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_click_shown_as_applying_after_the_change_was_shown_applied_is_shown_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    message = ask(bot)
    rid = request_id(message)
    patch_held, update_held = threading.Event(), threading.Event()
    planetscale.add_fault(Fault(method="PATCH", until=patch_held))
    approving = threading.Thread(target=bot.click, args=(APPROVE, rid), kwargs={"user": CAROL, "message": message})
    approving.start()
    until(lambda: planetscale.calls("PATCH"), "carol's approval never sent its change")
    before = updates(bot)
    with bot.slack.lock:
        bot.slack.faults.append(MethodFault("chat.update", until=update_held, times=1))
    # Alice's Cancel reads the request applying, and shows it so: Slack holds that update for a moment.
    cancelling = threading.Thread(target=bot.click, args=(CANCEL, rid), kwargs={"user": ALICE, "message": message})
    cancelling.start()
    until(lambda: updates(bot) > before, "alice's click showed nothing")
    patch_held.set()
    until(lambda: updates(bot) > before + 1, "the applied change was never shown")
    update_held.set()
    for thread in (approving, cancelling):
        thread.join(60)
    request = bot.deps.store.get_request(rid)
    assert request is not None and request.state == "applied"
    assert "Applying" not in latest_view(bot, message), "an applied change shown as still applying"
    sweep(bot)
    assert "Applying" not in latest_view(bot, message)
