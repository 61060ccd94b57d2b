"""Review rev24h of issue 24: approvals judged on what was read when the change was asked, and bulk changes the
sweep must judge again."""

from __future__ import annotations

import time

import pytest
from approval_helpers import CAROL, RULES, approvals_bot, latest_view, request_id, request_message, sweep
from conftest import Bot
from test_bulk import button, channel_messages, shown

from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]

PROD_BOUND = """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "500GB"
"""


def test_the_sweep_applies_a_bulk_change_whose_approval_could_not_tell_once_it_can(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A bulk change approved while one database's backups cannot be read under a bound added since: the
    approver is told to click again; nobody does. Once they can be read, the sweep judges it again and applies
    it, as it does a single request."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    for name in ("st-01", "st-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
        planetscale.add_backup("acme", name, f"{name}-prod", hours_ago=3, size=1_000_000_000)
    fault = planetscale.add_fault(Fault(status=500, method="GET", path_contains="/databases/st-02/branches",
                                        times=None))
    approvals_bot.command('update acme/st-* "Production daily" retention=14d')
    [message] = channel_messages(approvals_bot)
    approvals_bot.use_rules(RULES.format(approvals=1) + PROD_BOUND)
    reply = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert "click Approve again in a moment" in " ".join(e.text or "" for e in reply.private), reply.events
    assert planetscale.calls("PATCH") == []
    planetscale.faults.remove(fault)
    now[0] += 120
    sweep(approvals_bot)
    for name in ("st-01", "st-02"):
        assert planetscale.policies[("acme", name)][f"{name}-prod"]["retention_value"] == 14, shown(
            approvals_bot, message)


@pytest.mark.xfail(strict=True, reason="rev24h finding 1 (medium): approving judges a storage bound added since on the "
                   "sizes read when the change was asked (read_again re-reads only a failed read) and closes it")
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
