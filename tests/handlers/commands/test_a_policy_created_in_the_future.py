"""A policy never backed up whose `created_at` PlanetScale dates in the future (a clock gone wrong, year 2999) is no
policy "not stale yet" for ever: when it turns stale cannot be told, and `status` says so in words, as a problem,
rather than calling it healthy while it never backs up."""

from __future__ import annotations

import json

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState


def test_status_tells_a_never_backed_up_policy_created_in_the_future(bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpfuture01", name="Dated ahead", target="development",
                               created_at="2999-01-01T00:00:00.000Z", updated_at="2999-01-01T00:00:00.000Z")
    said = bot.command("status acme/app-db").all_text()
    assert "Dated ahead" in said, said
    assert "in the future" in said, said


def test_one_created_in_the_future_but_changed_long_ago_turns_stale_when_its_schedule_passes(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpfuture02", name="Dated ahead", target="development",
                               frequency_value=1, frequency_unit="day",
                               created_at="2999-01-01T00:00:00.000Z", updated_at="2020-01-01T00:00:00.000Z")
    said = bot.command("status acme/app-db").all_text()
    assert "Stale: no successful backup within" in said, said
    assert "in the future" not in said, said


def answering_with_policies_as_stored(planetscale: PlanetScaleState) -> None:
    """The policy list answered as the test stored it, past the emulator's own checks (a shape PlanetScale's spec
    does not promise)."""
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None,
         "data": list(planetscale.policies[("acme", "app-db")].values())})))


@pytest.mark.parametrize("created_at", ["yesterday", "", "2026-02-30T00:00:00Z"])
def test_status_tells_a_never_backed_up_policy_whose_creation_date_cannot_be_read(
        bot: Bot, planetscale: PlanetScaleState, created_at: str) -> None:
    with planetscale.lock:
        planetscale.add_policy("acme", "app-db", "bpundated01", name="Undated", target="development",
                               created_at=created_at, updated_at=created_at)
    answering_with_policies_as_stored(planetscale)
    said = bot.command("status acme/app-db").all_text()
    assert "Undated" in said, said
    assert "all healthy" not in said and "cannot be read" in said, said


def test_a_frequency_of_nothing_is_told_as_unjudged_not_as_healthy(bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")]["bp03devday"].update(frequency_value=0)
    answering_with_policies_as_stored(planetscale)
    said = bot.command("status acme/app-db").all_text()
    assert "all healthy" not in said and "frequency of 0" in said, said
