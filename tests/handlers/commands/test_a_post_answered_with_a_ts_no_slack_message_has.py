"""A post Slack answered `ok` with a `ts` or `channel` no Slack message has (too long for the column that keeps it,
a NUL byte): kept as where the message is, it broke the step on PostgreSQL ("the bot failed before it finished")
and was stored as it came on SQLite. Now such an answer is unreadable, as one of the wrong type is: Slack may have
posted, the person is told it did not confirm the post, and the sweep looks for it by its metadata."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import CHANNEL, Bot
from test_bulk import add_databases

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault

ANSWERS = {
    "a long ts": {"ok": True, "channel": CHANNEL, "ts": "1700000000." + "0" * 40},
    "a ts holding NUL": {"ok": True, "channel": CHANNEL, "ts": "1700000000.0001\x00"},
    "a long channel": {"ok": True, "channel": "C" + "0" * 40, "ts": "1700000000.000100"},
    "a channel holding NUL": {"ok": True, "channel": "C0DBAOPS\x00", "ts": "1700000000.000100"},
}


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
@pytest.mark.parametrize("change", [f"{PROD} retention=9d", "bp03devday retention=9d"], ids=["asked", "applied"])
def test_a_post_answered_with_where_no_message_is_is_told(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                          answer: dict[str, str], change: str) -> None:
    bot = approvals_bot
    bot.slack.add_fault(MethodFault("chat.postMessage", body=answer, channel=CHANNEL, in_thread=False))
    said = bot.command(f"update acme/app-db {change}", user=ALICE).all_text()
    assert "failed before it finished" not in said and "did not confirm" in said, said
    [request] = bot.deps.store.requests([RequestState.PENDING, RequestState.APPLIED])
    assert (request.message_channel, request.message_ts) == (None, None)


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
def test_a_bulk_post_answered_with_where_no_message_is_is_told(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                               answer: dict[str, str]) -> None:
    bot = approvals_bot
    add_databases(planetscale, "unseen", 2)
    bot.slack.add_fault(MethodFault("chat.postMessage", body=answer, channel=CHANNEL, in_thread=False))
    said = bot.command('update acme/unseen-* "Production daily" retention=14d', user=ALICE).all_text()
    assert "failed before it finished" not in said and "did not confirm" in said, said
    [batch] = bot.deps.store.open_batches()
    assert (batch.message_channel, batch.message_ts) == (None, None)
