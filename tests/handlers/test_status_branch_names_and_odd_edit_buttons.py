"""Leftovers of review rev20p, through Bolt's real pipeline on SQLite and PostgreSQL: a branch name PlanetScale
returns is shown as written in `status`'s 'Backups of … could not be read' line (never markup or a link), and an
Edit button whose value is not one the bot can act on tells the person so instead of leaving them in silence."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlencode

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import EDIT

ODD = "dev-*b*-#C0EVIL0001-_i_"


def test_a_branch_whose_backups_could_not_be_read_is_named_as_written(bot: Bot,
                                                                       planetscale: PlanetScaleState) -> None:
    planetscale.add_branch("acme", "app-db", ODD, production=False)
    planetscale.add_fault(Fault(status=500, path_contains="#C0EVIL", times=None))
    planetscale.add_fault(Fault(status=500, path_contains="%23C0EVIL", times=None))
    reply = bot.command("status acme/app-db")
    said = json.dumps([e.blocks or e.text for e in reply.private], ensure_ascii=False)
    assert "could not be read" in said, said
    line = said[said.index("_Backups of"):].split('"')[0]
    for bare in ("*b*", "#C0EVIL0001", "_i_"):
        assert bare not in line, f"{bare!r} sent as markup: {line}"


def test_an_edit_button_whose_policy_id_holds_a_slash_tells_the_person(bot: Bot,
                                                                        planetscale: PlanetScaleState) -> None:
    """PlanetScale may list a policy whose ID holds a `/` (no path holds it): its Edit button (on `show`) said
    nothing at all when clicked. The person now learns, in the form, that no change can be sent to it."""
    planetscale.add_policy("acme", "app-db", "bp/slashed", name="Slashed", target="development")
    bot.click(EDIT, "acme/app-db/bp/slashed")  # as `show` made it before it held back such a policy's button
    form = bot.current_view()
    told = json.dumps(form, ensure_ascii=False)
    if form.get("callback_id") == "policy_edit_form":
        told = json.dumps(bot.submit(form, {"retention_value": "5"}).ack, ensure_ascii=False)
    assert "cannot send any change to it" in told, f"the person was not told: {told}"
    assert planetscale.calls("PATCH") == []


def test_an_edit_button_with_a_value_the_bot_never_made_tells_the_person(bot: Bot) -> None:
    bot.click(EDIT, "garbage")
    told = json.dumps(bot.current_view())
    assert "names no policy this bot can open" in told, told


def test_a_policy_whose_id_is_past_a_buttons_value_is_shown(bot: Bot, planetscale: PlanetScaleState) -> None:
    """PlanetScale lists a policy whose ID is 2,102 characters: `show` built an Edit button whose value is past
    Slack's 2,000 characters, and answered 'Something went wrong'. It shows the policy, says the bot cannot change
    it, and offers no button that could not work."""
    planetscale.add_policy("acme", "app-db", "bp" + "x" * 2100, name="Long ID", target="development")
    reply = bot.command('show acme/app-db "Long ID"')
    said = json.dumps([[e.text, e.blocks] for e in reply.private], ensure_ascii=False)
    assert "Something went wrong" not in said, said
    assert "the bot cannot change it" in said and EDIT not in said, said


def without_trigger_id(body: str) -> str:
    """A click as a forged or odd payload may come: no trigger_id (Slack always sends one)."""
    payload = json.loads(parse_qs(body)["payload"][0])
    del payload["trigger_id"]
    return urlencode({"payload": json.dumps(payload)})


@pytest.mark.parametrize(("value", "told"), [("acme/app-db/bp03devday", "could not open a form"),
                                             ("garbage", "names no policy this bot can open")])
def test_an_edit_button_without_a_trigger_id_tells_the_person_in_words(
        bot: Bot, planetscale: PlanetScaleState, caplog: pytest.LogCaptureFixture, value: str, told: str) -> None:
    """It raised a KeyError after the ack: the person heard nothing."""
    with caplog.at_level(logging.ERROR):
        reply = bot.send(without_trigger_id(bot.click_body(EDIT, value)))
    said = json.dumps([e.blocks or e.text for e in reply.private], ensure_ascii=False)
    assert told in said, said
    assert not [e for e in bot.slack.events if e.view is not None], "a form opened without a trigger_id"
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert planetscale.calls("GET") == []
