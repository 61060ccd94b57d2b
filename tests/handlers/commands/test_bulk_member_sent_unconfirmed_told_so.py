"""A bulk change's policy whose PATCH was sent and not confirmed (the gateway answered 504; PlanetScale may still
carry it out) is told as sent and being checked, not as not applied and about to be applied: the bot sends
nothing again, and the change may already stand. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, CAROL, approvals_bot, sweep
from bulk_helpers import button, channel_messages
from conftest import Bot
from test_bulk import add_databases, shown

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_a_bulk_policy_sent_and_not_confirmed_is_told_sent_and_checked_not_about_to_be_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    changes, store = approvals_bot.deps.changes, approvals_bot.deps.store
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    dbs = add_databases(planetscale, "gate", 3)
    approvals_bot.command('update acme/gate-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.add_fault(Fault(status=504, method="PATCH", path_contains=f"/databases/{dbs[1]}/"))
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    members = {m.request.database: m.request for m in store.batch_members(button(message, BULK_APPROVE))}
    assert members[dbs[1]].state is RequestState.APPLYING  # sent; its outcome is not known yet
    line = next(line for line in shown(approvals_bot, message).split("\\n") if f"`{dbs[1]}`" in line)
    assert "not applied yet" not in line and "applies it shortly" not in line, line
    assert "sent" in line and "not confirmed" in line, line
    # PlanetScale carries it out after its gateway answered: the sweep finds it there and tells it applied.
    planetscale.dashboard_change("acme", dbs[1], f"{dbs[1]}-prod", retention_value=14, retention_unit="day")
    now[0] += changes.lease_seconds + 1
    sweep(approvals_bot)
    line = next(line for line in shown(approvals_bot, message).split("\\n") if f"`{dbs[1]}`" in line)
    assert ":white_check_mark: applied" in line, line
    assert len(planetscale.calls("PATCH")) == 3
