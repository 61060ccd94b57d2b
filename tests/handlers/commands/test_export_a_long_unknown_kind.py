"""A database kind PlanetScale answers longer than any kind it has, longer than a code block's line: told as a
database PlanetScale answered in a shape the bot cannot read, not as policies whose names are too long."""

from __future__ import annotations

import json

from conftest import Bot
from export_code import parsed_json
from test_export_command import exported, summary

from bot.emulators.planetscale_state import Fault, PlanetScaleState


def test_a_long_unknown_kind_is_told_as_unreadable_not_as_long_policy_names(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    kind = "neki-" + "x" * 3200
    planetscale.add_fault(Fault(status=200, method="GET", path_contains="/databases/billing-db", times=1,
                                body=json.dumps({"id": "db-billing-db", "name": "billing-db", "kind": kind})))
    _, events = exported(bot, "export acme/* json")
    told = summary(events)
    assert "Shorten the name" not in told, told
    assert "PlanetScale failed for `acme/billing-db`" in told and "a kind of 3205 characters" in told, told
    assert [d["database"] for d in parsed_json(events)["databases"]] == ["app-db"]
