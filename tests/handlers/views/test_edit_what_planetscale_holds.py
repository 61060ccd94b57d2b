"""The edit form of a policy as PlanetScale holds it, whatever its time or name: the form opens with what Slack's
form can hold, or the person is told in words why it cannot and what to do instead; never left on the loading
view, never "Something went wrong". Through Bolt with the PlanetScale and Slack emulators."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

DEV = "bp03devday"


def held_as(planetscale: PlanetScaleState, **values: Any) -> None:
    """The policy as PlanetScale's dashboard left it, past what the API's own checks would send."""
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][DEV].update(values)


def form_of(bot: Bot) -> dict[str, Any]:
    bot.command(f"edit acme/app-db {DEV}")
    return bot.current_view()


def shown(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


@pytest.mark.parametrize("time", ["02:00:00", "2:00", "25:99", ""])
def test_a_time_the_time_picker_cannot_show_opens_the_form_asking_for_a_time(
        bot: Bot, planetscale: PlanetScaleState, time: str) -> None:
    held_as(planetscale, schedule_time=time)
    view = form_of(bot)
    assert view["callback_id"] == "policy_edit_form", shown(view)
    [picker] = [b["element"] for b in view["blocks"] if b.get("block_id") == "schedule_time"]
    assert "initial_time" not in picker
    assert "PlanetScale gives this policy's time as" in shown(view) and "choose the time" in shown(view)
    # Once a time is chosen, the change is previewed as any other.
    preview = bot.submit(view, {"retention_value": "5", "schedule_time": "02:00"})
    assert preview.ack["response_action"] == "update", preview.ack
    assert planetscale.calls("PATCH") == []


def test_a_name_too_long_for_the_forms_metadata_is_told_with_the_command_to_use(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    held_as(planetscale, name="N" * 3000)
    view = form_of(bot)
    assert "Something went wrong" not in shown(view), shown(view)
    assert "too long" in shown(view) and f"/backup-policy update acme/app-db {DEV}" in shown(view)
    assert planetscale.calls("PATCH") == []
