"""A required system policy keeps its target: PlanetScale refuses to move it (422). A move that names one, alone
or in a bulk change, is refused for it before anything is asked, never after an approver approved it. Through
Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot
from bulk_helpers import button, channel_messages
from conftest import Bot
from test_bulk import shown, thread

from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name

REQUIRED = "bp01prod12h"  # acme/app-db's "Production daily", required


def test_a_bulk_move_lists_the_required_policy_as_not_changeable_before_anything_is_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command('update acme/app-db "Production *" target=development', user=ALICE)
    [message] = channel_messages(approvals_bot)
    asked = shown(approvals_bot, message) + thread(approvals_bot, message)
    assert "required system policy" in asked, asked
    batch = approvals_bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert batch is not None
    assert [p.policy_id for p in batch.planned] == ["bp02prodwk"]
    assert [s.policy_id for s in batch.skipped] == [REQUIRED]
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")] == ["bp02prodwk"]
    assert planetscale.policies[("acme", "app-db")][REQUIRED]["target"] == "production"


def test_a_single_move_of_a_required_policy_is_refused_before_anything_is_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    reply = approvals_bot.command(f"update acme/app-db {REQUIRED} target=development", user=ALICE)
    assert "required system policy" in reply.all_text()
    assert channel_messages(approvals_bot) == []
    assert planetscale.calls("PATCH") == []
