"""The watch on the approvals bot, with the audit channel set: the fixture the watch suites share."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot, answer_lost

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import Watcher, build_watcher
from handlers.watch import SKIPPED_HEADLINE

AUDIT = "C0DBAOPS01"


@pytest.fixture
def watched(approvals_bot: Bot) -> Iterator[tuple[Bot, Watcher]]:
    approvals_bot.deps.audit_channel = AUDIT
    watcher = build_watcher(approvals_bot.deps, approvals_bot.app.client, every=1)
    yield approvals_bot, watcher
    watcher.stop()


def a_pass_whose_post_slack_answers_late(bot: Bot, watcher: Watcher, posted: Callable[[], bool]) -> None:
    """One pass whose first chat.postMessage Slack takes but answers only after the bot's client stopped waiting;
    returns once Slack has carried it out, and shows what `posted` looks for."""
    with answer_lost(bot, "chat.postMessage"):
        watcher.run_once()
    assert posted(), "Slack shows no post the pass made, though it took it"


def watch_pass(bot: Bot, watcher: Watcher) -> list[str]:
    """One pass; the headlines of the messages it posted."""
    _, cursor = bot.slack.events_since(0)
    watcher.run_once()
    events, _ = bot.slack.events_since(cursor)
    return [e.text for e in events if e.kind == "message"]


def skipped_said(bot: Bot) -> str:
    """The blocks of every message telling what the watch skipped, as one text to search."""
    return json.dumps([e.blocks for e in bot.slack.events if e.text == SKIPPED_HEADLINE], ensure_ascii=False)


def development_branches(planetscale: PlanetScaleState, count: int = 100) -> None:
    """`count` development branches of acme/app-db beside its own: more than a pass reads the backups of."""
    with planetscale.lock:
        for n in range(count):
            planetscale.add_branch("acme", "app-db", f"feature-{n:03d}", production=False)
