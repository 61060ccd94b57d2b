"""A pending bulk change whose expiry is damaged in the database (Infinity, NaN, a time past the longest wait the
rules allow, or text on SQLite): no comparison with the clock ever said it was due, and it waited for good. Now the
sweep expires it as any other: its message says so, its requester is told, /healthz names the row, and a late
click is answered as for any expired bulk change."""

from __future__ import annotations

import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, approvals_bot, direct_messages
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held
from test_batches import ask, shown, sweep

from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


@damaged_times()
def test_a_bulk_change_whose_expiry_is_damaged_is_expired_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, until: object) -> None:
    bot = approvals_bot
    skip_unless_held(bot, until)
    message, batch_id = ask(bot, planetscale, "dmg")
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update change_batches set expires_at = :until where id = :id"),
                            {"until": until, "id": batch_id}).rowcount == 1
    sweep(bot)
    latest = bot.deps.store.get_batch(batch_id)
    assert latest is not None and latest.state is BatchState.EXPIRED
    assert "Expired" in shown(bot, message) and BULK_APPROVE not in shown(bot, message)
    assert any("was expired" in text for text in direct_messages(bot, ALICE))
    assert f"expiry of bulk change {batch_id}" in " ".join(health_report(bot.deps).get("damaged_rows", []))
    late = bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert "already expired" in late.all_text() and planetscale.calls("PATCH") == []
