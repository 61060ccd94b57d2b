"""Bulk changes tried as an adversary would, further (issue 24): the list Slack refused in the thread posted by
the sweep, previews inside five messages, one retry however many clicks, each policy's own cost, refusals told.
Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot, sweep
from conftest import Bot
from test_bulk import add_databases, channel_messages, thread

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import MethodFault

__all__ = ["approvals_bot"]  # fixtures, used by name


def test_a_bulk_requests_list_slack_refused_in_its_thread_is_posted_by_the_sweep_once(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "lost", 3)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", in_thread=True))
    approvals_bot.command('update acme/lost-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    assert thread(approvals_bot, message) == ""
    sweep(approvals_bot)
    listed = thread(approvals_bot, message)
    assert all(f"`{db}`" in listed for db in dbs), listed
    sweep(approvals_bot)
    assert thread(approvals_bot, message) == listed  # posted once
