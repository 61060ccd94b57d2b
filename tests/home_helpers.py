"""The App Home as Slack drives it: opened, read for its buttons, clicked."""

from __future__ import annotations

from typing import Any

from conftest import SIGNING_SECRET, Bot, Reply

from bot.emulators.slack_requests import app_home_opened_body, block_actions_body, signed_headers


def open_home(bot: Bot, user: str) -> dict[str, Any]:
    body = app_home_opened_body(user_id=user, event_id=f"Ev{len(bot.slack.events):08d}")
    bot.send(body, signed_headers(SIGNING_SECRET, body, content_type="application/json"))
    return bot.slack.homes[user]


def home_buttons(home: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in home["blocks"] for e in b.get("elements", [])
            if e.get("type") == "button"]


def click_on_home(bot: Bot, user: str, action_id: str, value: str) -> Reply:
    """A click on the Home tab: Slack sends the view, and no response URL."""
    body = block_actions_body(user_id=user, user_name=bot.slack.users[user].name, channel_id="", response_url="",
                              trigger_id=bot.slack.new_trigger_id(), view=bot.slack.homes[user],
                              action={"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                                      "text": {"type": "plain_text", "text": action_id}})
    return bot.send(body)
