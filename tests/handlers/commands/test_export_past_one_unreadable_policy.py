"""`export` of a database whose policy list holds one policy the bot cannot read (PlanetScale answering out of its
contract): the others are exported, the odd one counted and never named (its target, which the rules may hide, is
unknown), as `list` and `status` do, rather than the whole database refused for it. Through Bolt's pipeline."""

from __future__ import annotations

import json

from conftest import ALICE, Bot
from export_code import code_of, parsed_imports

from bot.emulators.planetscale_state import Fault, PlanetScaleState


def test_export_gives_every_readable_policy_past_one_it_cannot_read(bot: Bot, planetscale: PlanetScaleState) -> None:
    with planetscale.lock:
        listed = [*planetscale.policies[("acme", "app-db")].values(), {"id": "bpodd", "name": None}]
        ids = sorted(planetscale.policies[("acme", "app-db")])
    planetscale.add_fault(Fault(status=200, times=None, method="GET", path_ends="/app-db/backup-policies",
                                body=json.dumps({"type": "list", "current_page": 1, "next_page": None,
                                                 "prev_page": None, "data": listed})))
    reply = bot.command("export acme/app-db", user=ALICE)
    said = reply.all_text()
    assert sorted(i["id"] for _, i in parsed_imports(code_of(reply.private))) == ids, said
    assert "1 policy of `acme/app-db` PlanetScale listed in a shape this bot cannot read" in json.dumps(
        [e.blocks for e in reply.private], ensure_ascii=False), said
    assert "bpodd" not in said
