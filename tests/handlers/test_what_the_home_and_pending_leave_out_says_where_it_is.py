"""With more open requests and bulk changes than the App Home and `/backup-policy pending` show, each says how many
it leaves out and where they are: the Home points to `pending`, which lists more, and both to the requests' own
messages in their channels; a count alone leaves an approver no way to reach the rest."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from approval_helpers import ALICE, BOB, CAROL
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from bulk_helpers import ask_bulk_of_two, button, channel_messages
from conftest import Bot
from home_helpers import open_home

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

WAITING = 30


def test_the_home_and_pending_say_where_what_they_leave_out_is(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.command("update acme/app-db bp01prod12h retention=1d", user=ALICE)
    first = bot.deps.store.get_request(bot.deps.store.pending_waiting(CAROL, 0.0)[0][1])
    assert first is not None
    for n in range(WAITING - 1):
        bot.deps.store.add_request(replace(first, id=str(uuid.uuid4()), message_channel=None, message_ts=None,
                                           created_at=first.created_at - 1000 + n))
    ask_bulk_of_two(bot, planetscale)
    batch = bot.deps.store.get_batch(button(channel_messages(bot)[-1], BULK_APPROVE))
    assert batch is not None
    for n in range(20):
        bot.deps.store.add_batch(replace(batch, id=str(uuid.uuid4()), requester=BOB, message_channel=None,
                                         message_ts=None, created_at=batch.created_at - 1000 + n))
    home = json.dumps(open_home(bot, CAROL)["blocks"], ensure_ascii=False)
    said = bot.command("pending", user=CAROL).all_text()
    for shown, more in ((home, ["…and 20 more not shown", "…and 16 more not shown"]),
                        (said, ["…and 15 more not shown", "…and 11 more not shown"])):
        for line in more:
            assert line in shown, shown[-1500:]
            told = shown[shown.index(line):shown.index('"', shown.index(line))]
            assert "channel" in told, told
    start = home.index("…and 20 more not shown")
    assert "`/backup-policy pending`" in home[start:home.index('"', start)]
