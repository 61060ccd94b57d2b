"""Costs and sizes past a float's range asked as not given, and policy names longer than a code block exported
whole. Through Bolt's signed pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot
from export_code import code_of, parsed_resources
from test_bulk import channel_messages

from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_a_storage_cost_past_a_float_is_asked_as_not_given_and_the_request_is_kept(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """PlanetScale's `estimated_storage_cost` is any JSON number: two branches' latest backups at 1.5e308 each
    summed to infinity, which no JSON column holds (PostgreSQL refuses `Infinity`), so asking the change failed
    where it was stored. A cost past a float's range is not an estimate: it is left out, and the request is
    asked as any other."""
    approvals_bot.use_rules(RULES.format(approvals=1))
    planetscale.add_database("acme", "huge-db")
    planetscale.add_branch("acme", "huge-db", "main-2", production=True)
    planetscale.add_policy("acme", "huge-db", "huge-pol", name="Daily", target="production",
                           frequency_value=1, frequency_unit="day", retention_value=2, retention_unit="day")
    for branch in ("main", "main-2"):
        made = planetscale.add_backup("acme", "huge-db", "huge-pol", hours_ago=5, size=2_000_000_000, branch=branch)
        made["estimated_storage_cost"] = 1.5e308
    reply = approvals_bot.command('update acme/huge-db "Daily" retention=10d', user=ALICE)
    said = reply.all_text() + " ".join(str(m) for m in channel_messages(approvals_bot))
    assert "inf → inf" not in said and "PlanetScale's estimated storage cost" not in said, said
    assert len(channel_messages(approvals_bot)) == 1, said
    assert "8.0 GB → 40.0 GB" in said, said


def test_a_backup_size_past_a_float_is_not_an_estimate_and_the_change_is_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A backup's `size` is any JSON integer: one of 10**309 bytes made the estimate's storage an integer no
    float holds, and writing it in words raised OverflowError, so the change could not be asked at all."""
    approvals_bot.use_rules(RULES.format(approvals=1))
    planetscale.add_database("acme", "vast-db")
    planetscale.add_policy("acme", "vast-db", "vast-pol", name="Daily", target="production",
                           frequency_value=1, frequency_unit="day", retention_value=2, retention_unit="day")
    made = planetscale.add_backup("acme", "vast-db", "vast-pol", hours_ago=5, size=2_000_000_000)
    made["size"] = 10**309
    reply = approvals_bot.command('update acme/vast-db "Daily" retention=10d', user=ALICE)
    said = reply.all_text()
    assert "went wrong" not in said, said
    assert len(channel_messages(approvals_bot)) == 1, said
    assert "more than 1000000.0 TB" in said.replace(" ", " "), said
    status = approvals_bot.command("status acme/vast-db", user=ALICE).all_text()
    assert "went wrong" not in status and "more than 1000000.0 TB" in status, status


def test_a_policy_name_longer_than_a_code_block_is_exported_whole_or_named_never_cut_mid_string(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    """PlanetScale bounds no policy name. One of 3,000 characters made a line longer than a code block, and the
    export cut it between characters: the parts, put in one file in order as the answer says, split the quoted
    string over two lines, which neither Terraform nor JSON reads. Such a policy is named and left out; the
    others are exported."""
    planetscale.add_policy("acme", "app-db", "bplongname", name="n" * 3000, target="production")
    for chosen in ("terraform", "json"):
        reply = bot.command(f"export acme/app-db {chosen}", user=ALICE)
        code = code_of(reply.private)
        if chosen == "terraform":
            names = [a["name"] for _, _, a in parsed_resources(code)]
        else:
            names = [p["name"] for p in json.loads(code)["databases"][0]["backup_policies"]]
        assert len(names) == 3 and all(planetscale.policies[("acme", "app-db")][i]["name"] in names
                                       for i in ("bp01prod12h", "bp02prodwk", "bp03devday")), names
        said = json.dumps([e.blocks for e in reply.private])
        assert "`bplongname`" in said, said
