"""A long answer (a list of many policies, a history) whose response URL no longer takes it reaches the person in
messages Slack takes: a response URL holds what an ephemeral or a direct message does not (Slack refuses those
past about 12,000 characters of block text, `msg_blocks_too_long`), so the answer is split, never lost."""

from __future__ import annotations

import json

from conftest import ALICE, Bot

from bot.emulators.planetscale_state import PlanetScaleState

NAME = "&<" * 127 + "&"  # 255 characters that escape to five or four each
POLICIES = 150


PRIVATE = "G0PRIVATE01"  # a channel the emulator does not know: chat.postEphemeral answers channel_not_found


def shown_ids(bot: Bot, kind: str) -> set[str]:
    found = set()
    for event in bot.slack.events:
        if event.kind == kind:
            text = json.dumps(event.blocks)
            found |= {f"bplong{n:04d}" for n in range(POLICIES) if f"bplong{n:04d}" in text}
    return found


def test_a_long_list_whose_response_url_expired_reaches_the_person_whole(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    for n in range(POLICIES):
        planetscale.add_policy("acme", "app-db", f"bplong{n:04d}", name=NAME)
    answered = bot.command("list acme/app-db")
    by_url = shown_ids(bot, "response")
    assert by_url, answered.events
    bot.slack.expired_responses.add("1")  # the command's response URL, past its 30 minutes
    bot.command("list acme/app-db")  # Bot.send fails the test on any message Slack refused
    assert shown_ids(bot, "ephemeral") == by_url


def test_a_long_list_asked_where_the_bot_cannot_post_reaches_the_person_whole_in_a_direct_message(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    for n in range(POLICIES):
        planetscale.add_policy("acme", "app-db", f"bplong{n:04d}", name=NAME)
    bot.command("list acme/app-db", channel=PRIVATE)
    by_url = shown_ids(bot, "response")
    bot.slack.failing_responses["1"] = 500  # Slack failing to take it at every try
    bot.command("list acme/app-db", channel=PRIVATE)
    posted = [e for e in bot.slack.events if e.kind == "message"]
    assert len(posted) > 1 and {e.user for e in posted} == {ALICE}, posted
    assert shown_ids(bot, "message") == by_url
