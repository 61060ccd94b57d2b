"""A PlanetScale role holding Slack markup (`<!channel>`, a user's mention, `*bold*`) was set into the refusal as
written: Slack read it as a mention and formatting. A role is PlanetScale's text: it is shown as written, never a
mention or markup, as its names are."""

from __future__ import annotations

import json

from conftest import Bot
from test_access_doors import ALICE, PROD, text
from test_access_doors import rules as rules  # the fixture

from bot.emulators.planetscale_state import Fault, PlanetScaleState


def test_a_role_holding_slack_markup_is_shown_as_written_and_mentions_nobody(
        rules: Bot, planetscale: PlanetScaleState) -> None:
    members = [{**m, "role": "<!channel> *boss* <@U0BOB00001>"} for m in planetscale.members["acme"]]
    planetscale.add_fault(Fault(status=200, times=None, path_contains="/members", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": members})))
    said = text(rules.command(f"update acme/app-db {PROD} retention=5d", user=ALICE))
    assert "requires a PlanetScale admin" in said, said
    assert "<!channel>" not in said and "<@U0BOB00001>" not in said and "*boss*" not in said, said
    assert planetscale.calls("PATCH") == []
