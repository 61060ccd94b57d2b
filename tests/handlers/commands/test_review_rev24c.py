"""Review rev24c (issue 24): bulk changes, creation, deletion, costs and export tried again as an adversary would.
Each test here shows a defect found by the review, through Bolt's signed pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot
from test_bulk import channel_messages
from test_create_delete import revert_value

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import REVERT

__all__ = ["approvals_bot"]  # fixtures, used by name

LONG = "Nightly " + "x" * 292  # 300 characters: PlanetScale's spec sets no length on a name, the bot's own cap is 255


def test_reverting_the_deletion_or_rename_of_a_policy_named_past_the_bots_cap_is_answered_with_why(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A policy named in the dashboard longer than the bot lets a name be may still be renamed or deleted through
    the bot; the Revert of either would bring that name back. It must be answered with why, not fail unexplained."""
    for policy_id in ("long-a", "long-b"):
        planetscale.add_policy("acme", "app-db", policy_id, name=LONG + policy_id, target="development")
    approvals_bot.command('update acme/app-db long-a name="Dev nightly"', user=ALICE)
    approvals_bot.command("delete acme/app-db long-b", user=ALICE)
    asked = channel_messages(approvals_bot)
    assert len(asked) == 2 and "long-b" not in planetscale.policies[("acme", "app-db")]
    for message in asked:
        reply = approvals_bot.click(REVERT, revert_value(approvals_bot, message.ts), user=ALICE, message=message)
        said = reply.all_text()
        assert "Something went wrong" not in said, said
        assert "255" in said, said
    assert planetscale.calls("POST") == []
    assert not [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.revert_of]


def test_max_storage_is_judged_on_the_latest_successful_backup_even_when_the_latest_runs_failed(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The bound is the latest successful backup's size times the backups kept: a policy whose last runs failed
    (a bad day) still has a latest successful backup, three days old here, and keeping 60 of its 2 GB is past
    7 GB. Judged as if it had none, the bound let any retention through while PlanetScale was failing."""
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "7GB"
""")
    planetscale.add_database("acme", "sick-db")
    planetscale.add_policy("acme", "sick-db", "sick-prod", name="Production daily", target="production")
    planetscale.add_backup("acme", "sick-db", "sick-prod", hours_ago=72, size=2_000_000_000)
    for hours in (60, 48, 36, 24, 12):
        planetscale.add_backup("acme", "sick-db", "sick-prod", state="failed", hours_ago=hours)
    reply = approvals_bot.command("update acme/sick-db sick-prod retention=30d", user=ALICE)
    said = reply.all_text()
    assert "at most 7.0 GB allowed" in said, said
    assert channel_messages(approvals_bot) == [] and planetscale.calls("PATCH") == []
