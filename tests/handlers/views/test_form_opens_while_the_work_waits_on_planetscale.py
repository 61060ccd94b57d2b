"""A form opens inside its trigger's 3 s while PlanetScale holds every thread of the work after the acks: other
people's commands (lists, forms being filled) waiting on a PlanetScale that hangs never hold the views.open of the
next form, which queued behind them until the trigger was spent."""

from __future__ import annotations

import threading
import time

from conftest import SIGNING_SECRET, Bot, acked_while
from slack_bolt import BoltRequest

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack_requests import signed_headers

# More pieces of work held at once than the work's threads (16).
HELD_WORK = 20


def acked(bot: Bot, text: str) -> int:
    body = bot.command_body(text)
    return bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body))).status


def views_opened(bot: Bot) -> bool:
    """Whether a views.open came, waiting for it a while (the test's bound ends the wait first if none comes)."""
    for _ in range(200):
        if bot.slack.method_calls("views.open"):
            return True
        time.sleep(0.05)
    return False


def test_a_form_opens_while_planetscale_holds_every_thread_of_the_work(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    held = threading.Event()
    planetscale.add_fault(Fault(until=held, times=None, method="GET"))
    try:
        for _ in range(HELD_WORK):
            assert acked_while(lambda: acked(bot, "list acme/app-db")) == 200
        assert acked_while(lambda: acked(bot, "edit acme/app-db bp03devday")) == 200
        opened = acked_while(lambda: views_opened(bot), bound=15, what="views.open")
        assert opened, "views.open waited behind work held by PlanetScale, past the trigger's 3 s"
    finally:
        held.set()
    assert bot.executor.wait_idle(60)
    assert bot.current_view()["callback_id"] == "policy_edit_form"
