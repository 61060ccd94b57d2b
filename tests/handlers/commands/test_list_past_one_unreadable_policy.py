"""`list` and `status` of a database whose policy list holds one policy the bot cannot read (PlanetScale
answering out of its contract: a policy with no name, or `null`-filled): the others are listed and judged, the odd
one counted and never named (its target, which the rules may hide, is unknown), rather than the whole list refused
for it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Bot

from bot.emulators.planetscale_state import Fault, PlanetScaleState


@pytest.mark.parametrize("odd", [{"id": "bpodd", "name": None}, {"id": "bpodd", "target": "production"}])
def test_list_shows_every_readable_policy_past_one_it_cannot_read(
        bot: Bot, planetscale: PlanetScaleState, odd: dict[str, Any]) -> None:
    with planetscale.lock:
        listed = [*planetscale.policies[("acme", "app-db")].values(), odd]
        names = [p["name"] for p in planetscale.policies[("acme", "app-db")].values()]
    planetscale.add_fault(Fault(status=200, times=None, method="GET", path_ends="/app-db/backup-policies",
                                body=json.dumps({"type": "list", "current_page": 1, "next_page": None,
                                                 "prev_page": None, "data": listed})))
    said = bot.command("list acme/app-db").all_text()
    assert all(name in said for name in names), said
    assert "1 more not shown: PlanetScale answered for acme/app-db with a backup policy this bot cannot read" \
        in said, said
    assert "bpodd" not in said


def test_status_judges_every_readable_policy_past_one_it_cannot_read(bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        listed = [*planetscale.policies[("acme", "app-db")].values(), {"id": "bpodd", "name": None}]
    planetscale.add_fault(Fault(status=200, times=None, method="GET", path_ends="/app-db/backup-policies",
                                body=json.dumps({"type": "list", "current_page": 1, "next_page": None,
                                                 "prev_page": None, "data": listed})))
    planetscale.fail_backup("acme", "app-db", "bp01prod12h")
    said = bot.command("status acme/app-db").all_text()
    assert "The last backup failed" in said, said
    assert "1 more not judged: PlanetScale answered for acme/app-db with a backup policy this bot cannot read" \
        in said, said
    assert "bpodd" not in said
