"""The audit channel receives every applied change (CONTRACT: BACKUP_BOT_AUDIT_CHANNEL). A bulk change of more
policies than its message lists is posted there with every policy it applied, not a dozen of them and a pointer
to a thread the audit channel does not have. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from approval_helpers import ALICE, approvals_bot, sweep
from bulk_helpers import channel_messages, latest
from conftest import CHANNEL, Bot
from test_bulk import add_databases

from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import MethodFault

__all__ = ["approvals_bot"]  # fixtures, used by name

AUDIT = "C0RANDOM01"


def test_a_bulk_change_of_many_policies_reaches_the_audit_channel_whole(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.deps.audit_channel = AUDIT
    dbs = add_databases(planetscale, "many", 20)
    approvals_bot.command('update acme/many-* "Development daily" retention=5d', user=ALICE)
    assert len(planetscale.calls("PATCH")) == 20
    [message] = [m for m in channel_messages(approvals_bot) if m.channel == CHANNEL]
    assert "Applied to 20 of 20" in json.dumps(latest(approvals_bot, message).blocks)
    posts = [e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == AUDIT]
    assert posts and "Applied to 20 of 20" in json.dumps(posts[0].blocks), posts
    said = "".join(json.dumps(e.blocks, ensure_ascii=False) + e.text for e in posts)
    missing = [db for db in dbs if f"`{db}`" not in said]
    assert missing == [], f"the audit channel never shows {len(missing)} applied policies: {said}"
    if "thread lists them all" in said:
        assert any(e.thread_ts == posts[0].ts for e in posts), "pointed to a thread the audit channel does not have"
    # Each once, however many sweeps come by.
    for _ in range(2):
        sweep(approvals_bot)
    again = [e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == AUDIT]
    assert len(again) == len(posts)


def test_a_part_of_the_audit_entry_slack_refused_once_is_posted_by_a_later_sweep_and_nothing_twice(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.deps.audit_channel = AUDIT
    dbs = add_databases(planetscale, "part", 20)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", channel=AUDIT, skip=1))
    approvals_bot.command('update acme/part-* "Development daily" retention=5d', user=ALICE)
    assert len([e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == AUDIT]) == 1
    for _ in range(3):
        sweep(approvals_bot)
    posts = [e for e in approvals_bot.slack.events if e.kind == "message" and e.channel == AUDIT]
    said = "".join(json.dumps(e.blocks, ensure_ascii=False) for e in posts)
    assert [db for db in dbs if f"`{db}`" not in said] == []
    assert said.count("Applied to 20 of 20") == 1 and said.count("How each policy ended") == len(posts) - 1
    assert len(posts) == 2
