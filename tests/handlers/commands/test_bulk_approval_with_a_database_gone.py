"""One database of a bulk change gone from PlanetScale (or unreadable) between asking and approving, under a bound
whose facts are read again at approval (max_storage, min_policies): the others are applied. Through Bolt's
pipeline, on SQLite and PostgreSQL.

A database that no longer exists can never be read: the click must not answer 'Nothing was sent: … click Approve
again in a moment' and leave the whole change to expire."""

from __future__ import annotations

from access_rules import storage_bound
from approval_helpers import ALICE, CAROL, RULES, approvals_bot, second_instance
from conftest import Bot
from test_bulk import add_databases, button, channel_messages, patched, policy, shown

from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

FLOOR = RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_policies = 1
"""


def _gone(planetscale: PlanetScaleState, database: str) -> None:
    with planetscale.lock:  # deleted in PlanetScale meanwhile
        del planetscale.databases[("acme", database)]
        del planetscale.policies[("acme", database)]


def test_a_database_deleted_before_a_bulk_approval_under_a_storage_bound_does_not_hold_back_the_rest(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7TB"))
    dbs = add_databases(planetscale, "gone", 3)
    approvals_bot.command('update acme/gone-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    _gone(planetscale, dbs[1])
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    view = shown(approvals_bot, message) + repr([e.text for e in reply.private])
    assert policy(planetscale, dbs[0])["retention_value"] == 14, view
    assert policy(planetscale, dbs[2])["retention_value"] == 14, view
    assert "Applied to 2 of 3" in view and not any(f"/databases/{dbs[1]}/" in p for p in patched(planetscale))


def test_a_database_deleted_before_a_bulk_move_approval_under_a_floor_does_not_hold_back_the_rest(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(FLOOR)
    dbs = add_databases(planetscale, "left", 3)
    for db in dbs:
        planetscale.add_policy("acme", db, f"{db}-spare", name="Spare", target="production")
    approvals_bot.command('update acme/left-* "Production daily" target=development reason="retire"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    _gone(planetscale, dbs[1])
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    view = shown(approvals_bot, message) + repr([e.text for e in reply.private])
    assert policy(planetscale, dbs[0])["target"] == "development", view
    assert policy(planetscale, dbs[2])["target"] == "development", view
    assert "Applied to 2 of 3" in view and not any(f"/databases/{dbs[1]}/" in p for p in patched(planetscale))


def test_a_database_the_token_may_no_longer_read_does_not_hold_back_a_bulk_approval_under_a_storage_bound(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The token's access to one database taken away (403 on every read of it) after the change was asked: the
    others are applied, and that one fails on its own, told and offered again."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7TB"))
    dbs = add_databases(planetscale, "shut", 3)
    approvals_bot.command('update acme/shut-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.add_fault(Fault(status=403, path_contains=f"/databases/{dbs[1]}/", times=None))
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    view = shown(approvals_bot, message) + repr([e.text for e in reply.private])
    assert policy(planetscale, dbs[0])["retention_value"] == 14, view
    assert policy(planetscale, dbs[2])["retention_value"] == 14, view
    assert "Applied to 2 of 3" in view and not any(f"/databases/{dbs[1]}/" in p for p in patched(planetscale))
    assert BULK_RETRY in view
