"""A bulk change asked from the bulk form while Slack rate limits posts to its channel: the form has no response
URL to show it through, so Slack's passing refusal leaves its post to the sweep, which posts it once Slack takes
posts again (looked for by its metadata first), rather than a channel that never shows it. Through Bolt's
pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import CAROL, approvals_bot, sweep, swept_later
from conftest import CHANNEL, Bot

from bot.domain.batches import BatchState
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackEvent
from handlers.bulk_blocks import BULK_APPROVE
from handlers.views.bulk_edit import POLICIES

__all__ = ["approvals_bot"]  # a fixture, used by name


def add(planetscale: PlanetScaleState, names: list[str]) -> None:
    for name in names:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")


def posted(bot: Bot) -> list[SlackEvent]:
    return [e for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def test_a_bulk_change_from_the_form_slack_rate_limits_is_posted_by_the_sweep(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    bot = approvals_bot
    add(planetscale, ["limit-a", "limit-b"])
    bot.command('edit acme/limit-* "Production *"')
    form = bot.current_view()
    # An hour's rate limit on the channel's posts: answered at once, and refused once.
    bot.slack.add_fault(MethodFault("chat.postMessage", status=429, retry_after=3600, channel=CHANNEL,
                                    in_thread=False, times=1))
    bot.submit(form, {POLICIES: ["limit-a/limit-a-prod", "limit-b/limit-b-prod"], "retention_value": "21",
                      "retention_unit": "day", "reason": "audit"})
    assert bot.executor.wait_idle(timeout=30)
    assert posted(bot) == []
    sweep(bot)
    for _ in range(2):
        swept_later(bot)  # past the grace of a post whose maker may still be at it
    [message] = posted(bot)
    batch_id = next(el["value"] for b in message.blocks for el in b.get("elements", [])
                    if el.get("action_id") == BULK_APPROVE)
    bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    batch = bot.deps.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.APPROVED
    assert planetscale.policies[("acme", "limit-a")]["limit-a-prod"]["retention_value"] == 21
