"""A reason a person must give (a guardrail's override) made only of characters that draw nothing is no reason,
and a name that shows nothing is refused. Driven through Bolt's pipeline with the emulators (SQLite and
PostgreSQL)."""

from __future__ import annotations

import pytest
from access_rules import guardrail
from approval_helpers import ALICE, CAROL, RULES, approvals_bot
from bulk_helpers import button, channel_messages
from conftest import Bot

from bot.domain.change_requests import OPEN_STATES
from bot.domain.guardrails import Check, Guardrail, Verdict, demand
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"
OVERRIDABLE = RULES.format(approvals=1) + guardrail("development", "app-db", min_retention="30d",
                                                    override_approvals=1)
# Each draws nothing, and strip() keeps each: zero-width space, word joiner, byte order mark, soft hyphen, a
# combining accent alone, the Hangul filler, the blank braille pattern, and a mix with spaces of other kinds.
UNSEEN = ["\u200b", "\u2060", "\ufeff", "\u00ad", "\u0301", "\u3164", "\u2800", "\u200b\u3000\u0301\u2060\u00a0\u3164"]


def nothing_asked(bot: Bot, planetscale: PlanetScaleState) -> None:
    assert bot.deps.store.requests(list(OPEN_STATES)) == [], "a request was stored on a text that shows nothing"
    assert channel_messages(bot) == [], "a request was posted on a text that shows nothing"
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("unseen", UNSEEN, ids=["+".join(f"{ord(c):04X}" for c in u) for u in UNSEEN])
def test_an_override_reason_of_invisible_characters_is_refused_at_the_command(
        approvals_bot: Bot, planetscale: PlanetScaleState, unseen: str) -> None:
    """A guardrail asks 30 days of development backups, or one approval and a reason. alice asks 1 day with a
    reason that draws nothing: she alone is told to write it in words; nothing is asked, posted or sent, so no
    approver can pass the change on an empty reason."""
    approvals_bot.use_rules(OVERRIDABLE)
    reply = approvals_bot.command(f'update acme/app-db {DEV} retention=1d reason="{unseen}"', user=ALICE)
    message = channel_messages(approvals_bot)
    if message:  # as it was: a pending request, which carol's approval applies
        approvals_bot.click(APPROVE, button(message[0], APPROVE), user=CAROL, message=message[0])
    nothing_asked(approvals_bot, planetscale)
    said = " ".join(e.text for e in reply.private) + reply.ack_text
    assert "reason" in said and "in words" in said, f"alice is not told what is wrong with her reason: {said!r}"
    assert not reply.public


def test_a_reason_with_one_visible_character_still_overrides(approvals_bot: Bot,
                                                             planetscale: PlanetScaleState) -> None:
    """The same with a reason in words behind a zero-width space: it is asked, and carol's approval applies it."""
    approvals_bot.use_rules(OVERRIDABLE)
    approvals_bot.command(f'update acme/app-db {DEV} retention=1d reason="\u200bshort test run"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    approvals_bot.click(APPROVE, button(message, APPROVE), user=CAROL, message=message)
    assert planetscale.policies[("acme", "app-db")][DEV]["retention_value"] == 1


@pytest.mark.parametrize("unseen", ["\u200b", "\u0301\u3164"], ids=["U+200B", "U+0301"])
def test_an_override_reason_of_invisible_characters_is_refused_in_the_edit_form(
        approvals_bot: Bot, planetscale: PlanetScaleState, unseen: str) -> None:
    """The edit form's reason: the same, told beside the reason field; nothing is asked."""
    approvals_bot.use_rules(OVERRIDABLE)
    approvals_bot.command(f"edit acme/app-db {DEV}", user=ALICE)
    form = approvals_bot.current_view()
    reply = approvals_bot.submit(form, {"retention_value": "1", "reason": unseen})
    if reply.ack.get("response_action") != "errors" and reply.ack.get("view"):
        confirm = reply.ack["view"]
        confirm["id"] = form["id"]
        approvals_bot.submit(confirm, {})
    message = channel_messages(approvals_bot)
    if message:
        approvals_bot.click(APPROVE, button(message[0], APPROVE), user=CAROL, message=message[0])
    nothing_asked(approvals_bot, planetscale)
    assert reply.ack.get("response_action") == "errors", reply.ack
    assert "in words" in reply.ack["errors"]["reason"]


@pytest.mark.parametrize("unseen", ["\u200b", "\ufeff\u3164"], ids=["U+200B", "U+FEFF"])
def test_a_deletions_reason_of_invisible_characters_is_refused(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                              unseen: str) -> None:
    """`delete`'s reason goes through the same check: told, nothing asked."""
    reply = approvals_bot.command(f'delete acme/app-db {DEV} reason="{unseen}"', user=ALICE)
    nothing_asked(approvals_bot, planetscale)
    assert "in words" in " ".join(e.text for e in reply.private) + reply.ack_text


@pytest.mark.parametrize("unseen", UNSEEN, ids=["+".join(f"{ord(c):04X}" for c in u) for u in UNSEEN])
def test_the_judge_takes_a_reason_that_shows_nothing_as_none(unseen: str) -> None:
    """A request stored before the door refused such reasons is judged again at each approval: the guardrails'
    demand, which every verdict goes through, must not count it as a person's reason either."""
    broken = guardrail_broken()
    assert demand(broken, unseen).refusal, "a reason that shows nothing overrides the guardrail"
    assert demand(broken, "\u200bshort test run").refusal is None


def guardrail_broken() -> Verdict:
    rail = Guardrail(organizations=["acme"], databases=["app-db"], min_retention="30d", override_approvals=1)
    return Verdict((Check(rail, "min_retention", met=False, message="keeps 1 day, less than 30 days"),))


@pytest.mark.parametrize("unseen", ["\u3164", "\u0301", "\u2800", "\u3164\u3000\u3164"],
                         ids=["U+3164", "U+0301", "U+2800", "U+3164-U+3000"])
def test_a_name_that_shows_nothing_is_refused(approvals_bot: Bot, planetscale: PlanetScaleState, unseen: str) -> None:
    """A policy renamed to a Hangul filler, a combining mark alone or a blank braille pattern could not be told
    from another in the channel: refused to the person alone, like the invisible format characters, nothing
    asked or sent."""
    reply = approvals_bot.command(f'update acme/app-db {DEV} name="{unseen}"', user=ALICE)
    nothing_asked(approvals_bot, planetscale)
    said = " ".join(e.text for e in reply.private) + reply.ack_text
    assert "shows nothing" in said, said
    approvals_bot.command(f"edit acme/app-db {DEV}", user=ALICE)
    form = approvals_bot.current_view()
    submitted = approvals_bot.submit(form, {"name": unseen})
    assert submitted.ack.get("response_action") == "errors", submitted.ack
    assert "shows nothing" in submitted.ack["errors"]["name"]
    nothing_asked(approvals_bot, planetscale)
