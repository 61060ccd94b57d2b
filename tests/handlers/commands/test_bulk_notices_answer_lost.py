"""How a bulk change ended, told in its thread, to its requester and in the audit channel, when Slack's answer to
that post is lost past the client's timeout: whether Slack took the post or not, each is there once after the
sweeps that follow. Nothing is lost (a post Slack never made is made later) and nothing is posted twice (a post
Slack made is found by its metadata before posting again)."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot, direct_messages, sweep
from conftest import CHANNEL, Bot, answer_lost
from test_bulk import add_databases, channel_messages

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import MethodFault

__all__ = ["approvals_bot"]  # fixtures, used by name

AUDIT = "C0RANDOM01"


def told(bot: Bot, where: str) -> int:
    if where == "audit":
        return sum(1 for e in bot.slack.events if e.kind == "message" and e.channel == AUDIT)
    if where == "dm":
        return sum("Your bulk change" in text for text in direct_messages(bot, ALICE))
    [message] = [m for m in channel_messages(bot) if m.channel == CHANNEL]
    return sum("How each policy ended" in e.text for e in bot.slack.events
               if e.kind == "message" and e.thread_ts == message.ts)


@pytest.mark.parametrize("taken", [True, False], ids=["slack-took-it", "slack-never-took-it"])
@pytest.mark.parametrize("where", ["audit", "dm", "thread"])
def test_how_a_bulk_change_ended_is_told_once_though_slacks_answer_was_lost(
    approvals_bot: Bot, planetscale: PlanetScaleState, where: str, taken: bool
) -> None:
    approvals_bot.deps.audit_channel = AUDIT
    add_databases(planetscale, "lost", 2)
    # The post telling how it ended: in the thread, the one after the list of what the change would change.
    channel, in_thread, skip = {"audit": (AUDIT, False, 0), "dm": (ALICE, False, 0),
                                "thread": (CHANNEL, True, 1)}[where]
    # Slack answers it after the client's timeout: having taken it, or having refused it (unseen).
    with answer_lost(approvals_bot, "chat.postMessage", channel=channel, in_thread=in_thread, skip=skip,
                     status=None if taken else 503):
        approvals_bot.command('update acme/lost-* "Development daily" retention=5d', user=ALICE)
    assert len(planetscale.calls("PATCH")) == 2
    if taken:  # landed by the end of the block, awaited there
        assert told(approvals_bot, where) >= 1, "the post Slack took never landed"
    for _ in range(3):
        sweep(approvals_bot)
    assert told(approvals_bot, where) == 1, f"told {told(approvals_bot, where)} times ({where})"


def test_a_bulk_change_whose_post_was_lost_still_tells_its_requester_how_it_ended(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Slack never answers the post of a bulk change applied at once (it never made it): its requester is told
    that a direct message tells how each policy ended. Slack refuses that DM for a moment: a later sweep must send
    it, though the bulk change has no message in the channel (and so no thread) to finish."""
    add_databases(planetscale, "unposted", 2)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", channel=ALICE))
    # Slack refuses the channel post once the bot has stopped waiting.
    with answer_lost(approvals_bot, "chat.postMessage", status=503, channel=CHANNEL, in_thread=False):
        reply = approvals_bot.command('update acme/unposted-* "Development daily" retention=5d', user=ALICE)
    assert len(planetscale.calls("PATCH")) == 2
    assert "a direct message tells you how each one ended" in " ".join(e.text for e in reply.private)
    for _ in range(2):
        sweep(approvals_bot)
    assert told(approvals_bot, "dm") == 1, "the direct message promised never comes"
