"""A bulk change once applied, through Bolt's real pipeline: its message and thread say for each policy applied
what changed (before → after), the policy now in words, when it next runs and what it keeps and costs, as the
post of a single applied change does."""

from __future__ import annotations

import json

from approval_helpers import CAROL, approvals_bot
from bulk_helpers import button, channel_messages, latest
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_each_policy_applied_is_told_before_and_after_in_words_with_its_next_run_and_cost(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command('update acme/app-* "Production daily" retention=3d reason="audit asks 3 days"')
    [message] = channel_messages(approvals_bot)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    ended = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
             and "How each policy ended" in e.text + json.dumps(e.blocks)]
    assert ended, "no outcome in the thread"
    for text in (json.dumps(latest(approvals_bot, message).blocks, ensure_ascii=False),
                 json.dumps(ended[-1].blocks, ensure_ascii=False)):
        assert "applied" in text
        assert "retention ~2 days~ → *3 days*" in text
        assert "now every 12 hours at 09:10 UTC, kept 3 days" in text and "next run" in text
        assert "kept 4 → 6" in text
