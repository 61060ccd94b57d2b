"""PlanetScale's times in odd but valid ISO 8601 / RFC 3339 forms (a lowercase `t` and `z`, nine digits of a second,
`+00:00`) are the same moments as `…T…Z`: `status` reads them as such, not as a malformed answer, and shows a
next run in them as a date."""

from __future__ import annotations

import json

from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

PROD = "bp01prod12h"


def shown(bot: Bot) -> str:
    reply = bot.command("status acme/app-db")
    return json.dumps([e.blocks or e.text for e in reply.private], ensure_ascii=False)


def odd(iso: str | None, form: int) -> str | None:
    """`2026-01-31T12:00:00.000Z` in one of the other forms RFC 3339 allows."""
    if iso is None:
        return None
    whole = iso.split(".")[0].rstrip("Z")
    return [whole.replace("T", "t") + ".123456789z", whole + "+00:00", whole.lower() + "z"][form % 3]


def test_backups_timed_in_lowercase_or_nanoseconds_are_read_as_their_moments(
        bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        for number, listed in enumerate(planetscale.backups.values()):
            for backup in listed:
                for key in ("created_at", "started_at", "completed_at", "expires_at", "updated_at"):
                    backup[key] = odd(backup[key], number)
    said = shown(bot)
    assert "PlanetScale answered" not in said and "all healthy" in said, said
    assert "Last success:* <!date^" in said


def test_a_next_run_in_lowercase_is_shown_as_a_date(bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        policy = planetscale.policies[("acme", "app-db")][PROD]
        policy["next_run_at"] = "2099-01-01t00:00:00.000000000z"
    said = shown(bot)
    assert "2099-01-01t" not in said and "Next run:* <!date^4070908800^" in said, said
