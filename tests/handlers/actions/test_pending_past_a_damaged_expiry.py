"""A pending request whose expiry is damaged in the database (Infinity, NaN, a time past the longest wait the rules
allow, or text on SQLite). No comparison with the clock ever said it was due: it waited for good, in `pending` and
in its channel, and (as text) its approver's click failed. Now the sweep expires it as any other, its message says
so, its requester is told, /healthz names the row, and a late click is answered as for any expired request."""

from __future__ import annotations

import sqlalchemy as sa
from approval_helpers import CAROL, approvals_bot, ask, latest_view, request_id
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report
from bot.runtime.sweeper import Sweeper
from handlers.blocks import APPROVE
from handlers.posting import sweep_reporter

__all__ = ["approvals_bot"]  # a fixture, used by name


@damaged_times()
def test_a_pending_request_whose_expiry_is_damaged_is_expired_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, until: object) -> None:
    bot = approvals_bot
    skip_unless_held(bot, until)
    message = ask(bot)
    rid = request_id(message)
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update change_requests set expires_at = :until where id = :id"),
                            {"until": until, "id": rid}).rowcount == 1
    Sweeper(bot.deps.changes, sweep_reporter(bot.deps, bot.app.client)).sweep()
    assert bot.deps.store.get_request(rid).state == "expired"  # type: ignore[union-attr]
    assert "Expired" in latest_view(bot, message)
    assert f"expiry of change request {rid}" in " ".join(health_report(bot.deps).get("damaged_rows", []))
    late = bot.click(APPROVE, rid, user=CAROL, message=message)
    assert "already expired" in late.all_text() and planetscale.calls("PATCH") == []
