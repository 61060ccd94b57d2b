"""Review rev24c (issue 24): bulk changes, creation, deletion, costs and export tried again as an adversary would.
Each test here shows a defect found by the review, through Bolt's signed pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot
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
