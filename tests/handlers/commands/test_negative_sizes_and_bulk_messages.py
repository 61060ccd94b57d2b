"""Negative backup sizes never passing a storage bound, and what a bulk change's messages and dry run say before
anyone approved, through Bolt's signed pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from access_rules import storage_bound
from approval_helpers import ALICE, RULES, approvals_bot
from bulk_helpers import channel_messages
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.planetscale_state import Fault

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_a_backup_listed_with_a_negative_size_never_lets_a_retention_past_a_storage_bound(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """PlanetScale's spec gives a backup's size as any integer. A successful backup listed at -2 GB (a bad day's
    answer) is no size at all: keeping 30 of it is not 'about -60 GB' within a 7 GB bound, so the change must not
    be put to an approver as if the bound were met."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7GB"))
    planetscale.add_database("acme", "odd-db")
    planetscale.add_policy("acme", "odd-db", "odd-prod", name="Production daily", target="production")
    planetscale.add_backup("acme", "odd-db", "odd-prod", hours_ago=2, size=-2_000_000_000)
    reply = approvals_bot.command("update acme/odd-db odd-prod retention=30d", user=ALICE)
    said = reply.all_text()
    assert "000 B" not in said and "-0.18" not in said, said  # no storage or price below zero
    assert "backup list this bot cannot read" in said, said
    assert channel_messages(approvals_bot) == [], said
    assert planetscale.calls("PATCH") == []


def test_a_bulk_change_never_passes_a_storage_bound_on_a_negative_backup_size(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The same in bulk: a database whose latest backup is listed at -2 GB leaves its policy unjudged, with why,
    while the other database's policy, 30 × 100 MB within 7 GB, is asked."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7GB"))
    for name, size in (("odd-a", -2_000_000_000), ("odd-b", 100_000_000)):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
        planetscale.add_backup("acme", name, f"{name}-prod", hours_ago=2, size=size)
    approvals_bot.command('update acme/odd-* "Production daily" retention=30d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    said = message.text + json.dumps(message.blocks) + "".join(
        json.dumps(e.blocks) for e in approvals_bot.slack.events if e.thread_ts == message.ts)
    assert "1 backup policy" in message.text or "1 backup policy" in said, said
    assert "could not be judged" in said and "cannot read" in said, said
    assert "000 B" not in said, said  # a size below zero was written "-8000000000 B"
    assert planetscale.calls("PATCH") == []


def test_policies_that_need_no_approval_are_never_said_approved_before_anyone_approved(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A bulk change over production policies (one approval of @dba-leads) and development ones (none asked): its
    message, before any click, must not tell the development policies 'approved', nor the requester's dry run."""
    approvals_bot.use_rules(RULES.format(approvals=1))
    for name in ("dr-a", "dr-b"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
        planetscale.add_policy("acme", name, f"{name}-dev", name="Dev daily", target="development")
    preview = approvals_bot.command("update acme/dr-* * retention=14d --dry-run", user=ALICE).all_text()
    approvals_bot.command("update acme/dr-* * retention=14d", user=ALICE)
    [message] = channel_messages(approvals_bot)
    posted = json.dumps(message.blocks, ensure_ascii=False)
    for said in (preview, posted):
        assert "approved" not in said.replace("Approve", ""), said
        assert "(2 policies): no approval needed" in said, said
    assert planetscale.calls("PATCH") == []


def test_a_bulk_dry_run_says_in_what_slack_shows_that_nothing_was_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Slack shows a message's blocks, its text only in notifications. The bulk dry run's preview blocks read as
    the request itself (':lock: alice asks to change…', its expiry and a bulk change ID nobody can find): what is
    shown must say it is a dry run, and nothing was asked."""
    approvals_bot.use_rules(RULES.format(approvals=1))
    planetscale.add_database("acme", "dr-a")
    planetscale.add_policy("acme", "dr-a", "dr-a-prod", name="Production daily", target="production")
    reply = approvals_bot.command("update acme/dr-* * retention=14d --dry-run", user=ALICE)
    first = next(e for e in reply.events if e.kind != "ack" and e.blocks)
    shown = json.dumps(first.blocks, ensure_ascii=False)
    assert "Dry run" in shown and "nothing was asked or sent" in shown, shown
    assert channel_messages(approvals_bot) == [] and planetscale.calls("PATCH") == []


def test_a_backup_listed_with_a_size_of_true_never_lets_a_retention_past_a_storage_bound(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A JSON `true` where the size belongs is no size either: read as 1 byte, keeping 30 of it was 'about 30 B'
    within any bound, and the change was put to an approver as if the bound were met."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7GB"))
    planetscale.add_database("acme", "odd-db")
    planetscale.add_policy("acme", "odd-db", "odd-prod", name="Production daily", target="production")
    backup = {**planetscale.add_backup("acme", "odd-db", "odd-prod", hours_ago=2), "size": True}
    page = {"type": "list", "current_page": 1, "per_page": 100, "next_page": None, "next_page_url": None,
            "prev_page": None, "prev_page_url": None, "data": [backup]}
    planetscale.add_fault(Fault(method="GET", status=200, path_contains="/backups", times=None,
                                body=json.dumps(page)))  # against the spec: a test's chosen body
    reply = approvals_bot.command("update acme/odd-db odd-prod retention=30d", user=ALICE)
    said = reply.all_text()
    assert "30 B" not in said, said
    assert "backup list this bot cannot read" in said, said
    assert channel_messages(approvals_bot) == [], said
    assert planetscale.calls("PATCH") == []
