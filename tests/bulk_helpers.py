"""Bulk changes through Bolt: reading their messages and asking the ones the suites share."""

from __future__ import annotations

from conftest import ALICE, Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.bulk_blocks import BULK_APPROVE


def channel_messages(bot: Bot) -> list[SlackEvent]:
    return [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
            and e.channel in bot.slack.channels]


def button(message: SlackEvent, action_id: str) -> str:
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button")


def latest(bot: Bot, message: SlackEvent) -> SlackEvent:
    return [e for e in bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")][-1]


def side_change(bot: Bot, planetscale: PlanetScaleState, rules: str) -> tuple[str, SlackEvent]:
    """Under `rules`, alice's bulk change to keep 14 days over side-a and side-b's production policies: the bulk
    change's id and its message."""
    bot.use_rules(rules)
    for name in ("side-a", "side-b"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.command('update acme/side-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(bot)
    return button(message, BULK_APPROVE), message
