"""The edit form of a policy whose values PlanetScale holds in a shape a person could not type here (a name with
spaces around it, a zero-width space or past 255 characters; a retention of 0 or past 32 bits): left as they were,
they are neither sent nor refused, and a change of another field sends that field alone, as the command does.
Through Bolt with the PlanetScale and Slack emulators."""

from __future__ import annotations

import json

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

DEV = "bp03devday"


@pytest.mark.parametrize("name", ["Dev daily ", " Dev daily", "  Dev daily\u00a0"])
def test_a_change_of_the_retention_alone_sends_no_rename(bot: Bot, planetscale: PlanetScaleState,
                                                         name: str) -> None:
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][DEV]["name"] = name
    bot.command(f"edit acme/app-db {DEV}")
    view = bot.current_view()
    [field] = [b["element"] for b in view["blocks"] if b.get("block_id") == "name"]
    assert field["initial_value"] == name
    preview = bot.submit(view, {"retention_value": "5"})
    assert preview.ack["response_action"] == "update", preview.ack
    sent = json.dumps(preview.ack["view"]["blocks"], ensure_ascii=False)
    assert "Sends `retention_value`." in sent, sent
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("name", ["Dev\u200bdaily", "Dev\tdaily", "D" * 300])
def test_a_name_the_form_would_refuse_left_as_held_lets_another_field_change(
        bot: Bot, planetscale: PlanetScaleState, name: str) -> None:
    """A name PlanetScale holds that a person could not type here (a zero-width space, a tab, past 255): left as it
    is, it is not the person's to answer for; the retention alone is sent, as the command sends it."""
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][DEV]["name"] = name
    bot.command(f"edit acme/app-db {DEV}")
    view = bot.current_view()
    preview = bot.submit(view, {"retention_value": "5"})
    assert preview.ack["response_action"] == "update", preview.ack
    sent = json.dumps(preview.ack["view"]["blocks"], ensure_ascii=False)
    assert "Sends `retention_value`." in sent, sent
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("retention", [0, 10**400])
def test_a_number_the_form_would_refuse_left_as_held_lets_another_field_change(
        bot: Bot, planetscale: PlanetScaleState, retention: int) -> None:
    """A retention PlanetScale holds that a person could not type here (0, past 32 bits), left as it is: the
    frequency alone is sent, as the command sends it."""
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][DEV]["retention_value"] = retention
    bot.command(f"edit acme/app-db {DEV}")
    view = bot.current_view()
    preview = bot.submit(view, {"frequency_value": "2"})
    assert preview.ack["response_action"] == "update", preview.ack
    sent = json.dumps(preview.ack["view"]["blocks"], ensure_ascii=False)
    assert "Sends `frequency_value`." in sent, sent
    assert planetscale.calls("PATCH") == []


@pytest.mark.parametrize("retention", [0, 10**400])
def test_a_held_number_left_as_it_was_is_not_sent_when_the_dashboard_moved_it_meanwhile(
        bot: Bot, planetscale: PlanetScaleState, retention: int) -> None:
    """Left as the form was opened, the held retention says nothing of the retention PlanetScale holds at the
    confirmation: the change is not sent, and the form comes back with the retention as it is now."""
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][DEV]["retention_value"] = retention
    bot.command(f"edit acme/app-db {DEV}")
    form = bot.current_view()
    confirm = bot.submit(form, {"frequency_value": "2"}).ack["view"]
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][DEV]["retention_value"] = 3
    confirm["id"] = form["id"]
    bot.submit(confirm, {})
    assert planetscale.calls("PATCH") == []
    fresh = bot.current_view()
    assert "changed in PlanetScale after you opened the form" in json.dumps(fresh), fresh
