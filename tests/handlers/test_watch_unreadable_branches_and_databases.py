"""One branch or database PlanetScale lists in a shape the bot cannot read hides no other's backup health and is
told; a member listed without an e-mail address does not stop an admin's change."""

from __future__ import annotations

import json

from access_rules import admin_asks
from approval_helpers import ALICE, request_message
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.watch import Watcher
from handlers.watch import SKIPPED_HEADLINE

PROD = "bp01prod12h"


def test_one_unreadable_branch_hides_no_failing_backup_of_its_database_and_is_told(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    with planetscale.lock:  # and a branch missing what the bot reads of it (its production flag is null)
        listed = [*planetscale.branches[("acme", "app-db")], {"id": "br-odd", "name": "feature-odd",
                                                               "production": None}]
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/app-db/branches", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": listed})))
    planetscale.fail_backup("acme", "app-db", PROD)
    posted = watch_pass(bot, watcher)
    assert any(p.startswith(":rotating_light:") and "Production" in p for p in posted), posted
    told = [e for e in bot.slack.events if e.text == SKIPPED_HEADLINE]
    assert told and "feature-odd (its production cannot be read)" in json.dumps(told[0].blocks), told
    said = json.dumps([e.blocks or e.text for e in bot.command("status acme/app-db").private])
    assert "The last backup failed" in said and "feature-odd" in said, said
    report = health_report(bot.deps, watcher)
    assert any("app-db" in s for s in report.get("watch_skipped", [])), report


def databases_listed_with(planetscale: PlanetScaleState, odd: dict[str, object]) -> None:
    """acme's databases as PlanetScale lists them, with `odd` among them."""
    with planetscale.lock:
        listed = [*(d for (o, _), d in sorted(planetscale.databases.items()) if o == "acme"), odd]
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/organizations/acme/databases", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": listed})))


def test_one_unreadable_database_in_the_list_hides_no_other_database_a_pattern_names_and_is_told(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched  # its rules name the databases by a pattern (`*`): the watch lists them
    watch_pass(bot, watcher)
    # One database in the list has no name the bot can read.
    databases_listed_with(planetscale, {"id": "db-odd", "name": None})
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert any(p.startswith(":eyes:") for p in posted), posted
    told = [e for e in bot.slack.events if e.text == SKIPPED_HEADLINE]
    assert told and "db-odd" in json.dumps(told[0].blocks), told
    report = health_report(bot.deps, watcher)
    assert any("db-odd" in s for s in report.get("watch_skipped", [])), report


def test_a_database_whose_listed_name_no_path_can_hold_is_told_and_hides_no_other(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watch_pass(bot, watcher)
    odd = "d" * 200  # past what a path segment of PlanetScale's holds: never sent, for ever
    databases_listed_with(planetscale, {"id": "db-long", "name": odd})
    planetscale.dashboard_change("acme", "billing-db", "bp04billing", retention_value=3)
    posted = watch_pass(bot, watcher)
    assert any(p.startswith(":eyes:") for p in posted), posted
    told = [e for e in bot.slack.events if e.text == SKIPPED_HEADLINE]
    assert told and "is not a valid database" in json.dumps(told[0].blocks), told
    assert any(odd[:20] in s for s in health_report(bot.deps, watcher).get("watch_skipped", []))


def test_a_member_planetscale_lists_without_an_e_mail_address_does_not_stop_an_admins_change(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice, an admin of acme in PlanetScale, asks a change a rule gives to admins only; PlanetScale's member
    search also lists a member whose user has no e-mail address (null): that member is nobody's, and alice is
    still told her change is asked, not that the member list could not be read."""
    approvals_bot.use_rules(admin_asks(1))
    with planetscale.lock:
        listed = [*planetscale.members["acme"], {"id": "mem-odd", "role": "member",
                                                 "user": {"id": "u-odd", "name": "Invited", "email": None}}]
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/organizations/acme/members", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": listed})))
    reply = approvals_bot.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    said = json.dumps([e.text for e in reply.events] + [str(reply.ack)])
    assert "could not be read" not in said and "could not be checked" not in said, said
    assert request_message(approvals_bot).text


def test_an_unreadable_policy_whose_id_holds_markup_is_told_as_written(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """The ID is PlanetScale's text: `*urgent*` is not shown bold in the audit channel, nor `@here` as a mention."""
    bot, watcher = watched
    watch_pass(bot, watcher)
    with planetscale.lock:
        listed = [*planetscale.policies[("acme", "app-db")].values(), {"id": "*urgent*_now_ `x` @here", "name": 5}]
    planetscale.add_fault(Fault(status=200, times=None, path_ends="/app-db/backup-policies", body=json.dumps(
        {"type": "list", "current_page": 1, "next_page": None, "prev_page": None, "data": listed})))
    assert SKIPPED_HEADLINE in watch_pass(bot, watcher)
    [message] = [e for e in bot.slack.events if e.text == SKIPPED_HEADLINE]
    shown = json.dumps(message.blocks)
    assert "urgent" in shown and "*urgent*" not in shown and "`x`" not in shown and "@here" not in shown, shown
