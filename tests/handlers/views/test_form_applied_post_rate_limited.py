"""A change applied at once from the edit form while Slack rate limits posts to its channel: the form has no
response URL to show it through, so Slack's passing refusal leaves the result's post to the sweep, which posts it
once Slack takes posts again (looked for by its metadata first), rather than a channel that never shows a change
applied there. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from approval_helpers import sweep, swept_later
from conftest import CHANNEL, Bot, make_bot
from test_edit import open_form

from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackEvent


@pytest.fixture
def any_bot(settings: object, slack: object, planetscale_client: object, store_url: str,
            slack_server: object) -> Iterator[Bot]:
    store = Store(store_url)
    store.migrate()
    yield from make_bot(settings, slack, planetscale_client, store, slack_server)  # type: ignore[arg-type]
    store.close()


def posted(bot: Bot) -> list[SlackEvent]:
    return [e for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def test_a_change_applied_from_the_form_slack_rate_limits_is_posted_by_the_sweep(
        any_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = any_bot
    form = open_form(bot)
    preview = bot.submit(form, {"retention_value": "5", "reason": "more history"})
    confirm = preview.ack["view"]
    confirm["id"] = form["id"]  # Slack keeps the view's ID across response_action: update
    # An hour's rate limit on the channel's posts: answered at once, and refused once.
    bot.slack.add_fault(MethodFault("chat.postMessage", status=429, retry_after=3600, channel=CHANNEL,
                                    in_thread=False, times=1))
    bot.submit(confirm, {})
    assert bot.executor.wait_idle(timeout=30)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 5}]
    assert posted(bot) == []
    sweep(bot)
    for _ in range(2):
        swept_later(bot)  # past the grace of a post whose maker may still be at it
    [message] = posted(bot)
    assert "more history" in json.dumps(message.blocks)
