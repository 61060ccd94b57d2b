"""A button or a form no listener takes (from an older release of the bot, or not the bot's): answered 200, the
person told to them alone that nothing was done and what to do, and nothing sent to PlanetScale. Bolt answered
404 before, and Slack showed a warning icon or "We had some trouble connecting"."""

from __future__ import annotations

import json

from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState


def test_a_click_on_a_button_no_listener_takes_is_answered(bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = bot.click("approve_request_v0", "req-from-an-older-release")
    assert reply.response.status == 200, reply.response.body
    assert reply.public == []
    [said] = reply.private
    assert "not one this app knows" in said.text and "/backup-policy pending" in said.text, said.text
    assert planetscale.calls("PATCH") == [] and planetscale.calls("POST") == []


def test_a_form_no_listener_takes_is_answered_in_the_form(bot: Bot, planetscale: PlanetScaleState) -> None:
    view = {"id": "V0OLDFORM", "type": "modal", "callback_id": "edit_policy_v0", "private_metadata": "{}",
            "title": {"type": "plain_text", "text": "Edit backup policy"}, "blocks": [], "hash": "1.abc"}
    reply = bot.submit(view)
    assert reply.response.status == 200, reply.response.body
    assert reply.ack.get("response_action") == "update"
    shown = json.dumps(reply.ack["view"])
    assert "not one this app knows" in shown and "Nothing was sent" in shown, shown
    assert reply.public == [] and planetscale.calls("PATCH") == [] and planetscale.calls("POST") == []
