"""Approvals judged on facts read again rather than on what was read when the change was asked, and bulk changes
the sweep must judge again."""

from __future__ import annotations

import threading
import time

from access_rules import guardrail, storage_bound
from approval_helpers import (
    ALICE,
    CAROL,
    RULES,
    approvals_bot,
    latest_view,
    request_id,
    request_message,
    second_instance,
    sweep,
)
from backup_reads import moved_clock, one_asked_unreadable, st_asked_unreadable, swept_once_readable
from conftest import Bot
from test_bulk import button, channel_messages, shown
from test_create_delete import revert_value

from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.blocks import APPROVE, REVERT
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

PROD_BOUND = storage_bound("production", "500GB")
FLOOR = guardrail("production", min_policies=1)


def production_names(planetscale: PlanetScaleState) -> list[str]:
    return sorted(p["name"] for p in planetscale.policies[("acme", "floor-db")].values()
                  if p["target"] == "production")


def test_the_sweep_applies_a_bulk_change_whose_approval_could_not_tell_once_it_can(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A bulk change approved while one database's backups cannot be read under a bound added since: the
    approver is told to click again; nobody does. Once they can be read, the sweep judges it again and applies
    it, as it does a single request."""
    now = moved_clock(approvals_bot)
    message, fault = st_asked_unreadable(approvals_bot, planetscale)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    # st-01 goes ahead; st-02, whose backups could not be read, waits for the sweep's next turn (issue 24).
    assert [c.path for c in planetscale.calls("PATCH")] == [
        "/organizations/acme/databases/st-01/backup-policies/st-01-prod"], reply.events
    swept_once_readable(approvals_bot, planetscale, fault, now)
    for name in ("st-01", "st-02"):
        assert planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"] == 14, shown(
            approvals_bot, message)


def test_an_approval_under_a_bound_added_since_is_not_refused_on_the_sizes_read_when_the_change_was_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Asked when the latest backup was 100 GB (read successfully, no bound then); a newer 1 GB backup since, and
    a 500 GB bound added. Fourteen 1 GB backups fit the bound: the approval must not refuse and close the request
    on the 100 GB read when it was asked (applying re-reads under a bound; approving must not judge on less)."""
    planetscale.add_database("acme", "one")
    planetscale.add_policy("acme", "one", "one-prod", name="Production daily", target="production")
    planetscale.add_backup("acme", "one", "one-prod", hours_ago=30, size=100_000_000_000)
    approvals_bot.command('update acme/one "Production daily" retention=14d')
    message = request_message(approvals_bot)
    planetscale.add_backup("acme", "one", "one-prod", hours_ago=1, size=1_000_000_000)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.policies[("acme", "one")]["one-prod"]["retention_value"] == 14, (
        [e.text for e in reply.events], latest_view(approvals_bot, message))


def test_a_bulk_approval_under_a_bound_added_since_is_not_refused_on_the_sizes_read_when_it_was_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The bulk side of the same (holds: a bulk approval's refusal is judged again under each policy's lease,
    on its backups read then): st-02's latest backup was 100 GB when asked, 1 GB now; a 500 GB bound added.
    Both policies fit the bound as their backups are now: both are applied."""
    for name in ("st-01", "st-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    planetscale.add_backup("acme", "st-01", "st-01-prod", hours_ago=3, size=1_000_000_000)
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=30, size=100_000_000_000)
    approvals_bot.command('update acme/st-* "Production daily" retention=14d')
    [message] = channel_messages(approvals_bot)
    planetscale.add_backup("acme", "st-02", "st-02-prod", hours_ago=1, size=1_000_000_000)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    for name in ("st-01", "st-02"):
        assert planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"] == 14, (
            [e.text for e in reply.events], shown(approvals_bot, message))


def test_the_sweep_applies_a_request_left_on_cannot_tell_whose_rules_now_ask_fewer_approvals(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Asked when it needed two approvals; the rules lowered to one and a storage bound added; approved once while
    its backups cannot be read: the approver is told the bot judges it again shortly. Once they can be read, the
    sweep must apply it: it has every approval the rules ask."""
    now = moved_clock(approvals_bot)
    approvals_bot.use_rules(RULES.format(approvals=2))
    message, fault = one_asked_unreadable(approvals_bot, planetscale)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert "the bot judges it again shortly" in " ".join(e.text or "" for e in reply.events), reply.events
    swept_once_readable(approvals_bot, planetscale, fault, now)
    assert planetscale.policies[("acme", "one")]["one-prod"]["retention_value"] == 14, latest_view(
        approvals_bot, message)


def test_the_sweep_applies_a_bulk_change_left_on_cannot_tell_whose_rules_now_ask_fewer_approvals(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The bulk side: asked needing two approvals, the rules lowered to one and a storage bound added, approved
    once while st-02's backups cannot be read. Once they can be read, the sweep applies both policies."""
    now = moved_clock(approvals_bot)
    approvals_bot.use_rules(RULES.format(approvals=2))
    message, fault = st_asked_unreadable(approvals_bot, planetscale)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert "waiting on PlanetScale" in shown(approvals_bot, message), reply.events
    swept_once_readable(approvals_bot, planetscale, fault, now)
    for name in ("st-01", "st-02"):
        assert planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"] == 14, shown(
            approvals_bot, message)


def test_reverting_a_creation_that_would_delete_a_databases_last_production_policy_is_refused(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """B created beside A, A deleted since: reverting B's creation would leave no production policy."""
    approvals_bot.use_rules(RULES.format(approvals=1) + FLOOR)
    planetscale.add_database("acme", "floor-db")
    planetscale.add_policy("acme", "floor-db", "fl-a", name="A", target="production")
    approvals_bot.command('create acme/floor-db name="B" target=production retention=14d frequency=1d at=01:00 '
                          'reason="x"', user=ALICE)
    created = channel_messages(approvals_bot)[-1]
    approvals_bot.click(APPROVE, request_id(created), user=CAROL, message=created)
    approvals_bot.command('delete acme/floor-db fl-a reason="y"', user=ALICE)
    deleted = channel_messages(approvals_bot)[-1]
    approvals_bot.click(APPROVE, request_id(deleted), user=CAROL, message=deleted)
    assert production_names(planetscale) == ["B"]
    reply = approvals_bot.click(REVERT, revert_value(approvals_bot, created.ts), user=ALICE, message=created)
    assert "at least 1 required" in " ".join(e.text or "" for e in reply.events), reply.events
    assert production_names(planetscale) == ["B"] and planetscale.calls("DELETE")[-1].path.endswith("/fl-a")


def test_two_deletions_approved_at_once_on_two_instances_keep_the_floor_of_policies(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    """Two production policies, at least one required, each deletion asked alone (each passes then): approved at
    once on two instances, the first's DELETE held in flight; only one is sent."""
    for bot in (approvals_bot, second_instance):
        bot.use_rules(RULES.format(approvals=1) + FLOOR)
    planetscale.add_database("acme", "floor-db")
    for suffix in ("a", "b"):
        planetscale.add_policy("acme", "floor-db", f"fl-{suffix}", name=suffix.upper(), target="production")
    for suffix in ("a", "b"):
        approvals_bot.command(f'delete acme/floor-db fl-{suffix} reason="y"', user=ALICE)
    one, two = channel_messages(approvals_bot)
    landing = threading.Event()
    planetscale.add_fault(Fault(method="DELETE", until=landing, times=1))
    first = threading.Thread(target=approvals_bot.click, args=(APPROVE, request_id(one)),
                             kwargs={"user": CAROL, "message": one})
    first.start()
    deadline = time.monotonic() + 60
    while not planetscale.calls("DELETE"):
        assert time.monotonic() < deadline, "the first DELETE was never sent"
        time.sleep(0.01)
    second = threading.Thread(target=second_instance.click, args=(APPROVE, request_id(two)),
                              kwargs={"user": CAROL, "message": two})
    second.start()
    time.sleep(0.5)  # the second approval is waiting for the database's lease (or queued for the sweep)
    landing.set()
    first.join(30)
    second.join(30)
    assert approvals_bot.executor.wait_idle(60) and second_instance.executor.wait_idle(60)
    sweep(second_instance)
    assert len(planetscale.calls("DELETE")) == 1 and production_names(planetscale) == ["B"]
