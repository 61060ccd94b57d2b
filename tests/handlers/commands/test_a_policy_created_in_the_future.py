"""A policy never backed up whose `created_at` PlanetScale dates in the future (a clock gone wrong, year 2999) is no
policy "not stale yet" for ever: when it turns stale cannot be told, and `status` says so in words, as a problem,
rather than calling it healthy while it never backs up."""

from __future__ import annotations

from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState


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
