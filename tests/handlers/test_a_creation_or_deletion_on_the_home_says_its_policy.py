"""A creation or a deletion waiting for approval on the App Home says the policy that comes or goes, as its message
and `pending` do: the Home showed "no visible change" for both, and an approver could approve there without seeing
what they approved."""

from __future__ import annotations

import json

from approval_helpers import ALICE, CAROL, approvals_bot
from conftest import Bot
from home_helpers import home_buttons, open_home

from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name



def test_a_creation_waiting_on_the_home_shows_the_new_schedule(approvals_bot: Bot) -> None:
    approvals_bot.command('create acme/app-db name="Nightly" target=production retention=7d frequency=1d at=02:00',
                          user=ALICE)
    home = open_home(approvals_bot, CAROL)
    [(action, _), _] = home_buttons(home)
    assert action == APPROVE
    shown = json.dumps(home["blocks"], ensure_ascii=False)
    assert "asks to create the backup policy Nightly" in shown
    assert "new policy: *every day at 02:00 UTC, kept 7 days* (production)" in shown, shown[:800]
    assert "no visible change" not in shown


def test_a_deletion_waiting_on_the_home_shows_the_schedule_that_goes(approvals_bot: Bot) -> None:
    approvals_bot.command("delete acme/app-db bp02prodwk", user=ALICE)
    home = open_home(approvals_bot, CAROL)
    [(action, _), _] = home_buttons(home)
    assert action == APPROVE
    shown = json.dumps(home["blocks"], ensure_ascii=False)
    assert "asks to delete the backup policy Production weekly" in shown
    assert "no visible change" not in shown, shown[:800]
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None]
    gone = next(b["text"]["text"] for b in message.blocks[1:] if b["type"] == "section")
    assert gone in shown, (gone, shown[:800])
