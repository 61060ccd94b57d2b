"""A request left applying by a crash, its own lease damaged in the database (`lease_until` Infinity, NaN, a time no
lease reaches, or text on SQLite). The sweep settles what is left applying once its lease has run out, and no
comparison with the clock ran such a lease out: the request stayed applying for good, its requester never told,
and, one request applying per policy, no other change of the policy was ever claimed. Now such a lease counts as
run out (and /healthz names the row): the sweep settles it as any other."""

from __future__ import annotations

import sqlalchemy as sa
from approval_helpers import approvals_bot
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held
from test_requests import left_applying

from bot.adapters.schema import change_requests
from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.app import health_report

__all__ = ["approvals_bot"]  # a fixture, used by name


@damaged_times()
def test_a_request_left_applying_with_a_damaged_lease_is_settled_by_the_sweep(
        approvals_bot: Bot, planetscale: PlanetScaleState, until: object) -> None:
    bot = approvals_bot
    skip_unless_held(bot, until)
    rid = left_applying(bot)
    with bot.deps.store.engine.begin() as conn:
        assert conn.execute(sa.text("update change_requests set lease_until = :until where id = :id"),
                            {"until": until, "id": rid}).rowcount == 1
    outcomes = bot.deps.changes.recover()
    assert [o.kind for o in outcomes] == ["applied"], outcomes
    assert bot.deps.store.get_request(rid).state == "applied"  # type: ignore[union-attr]
    assert len(planetscale.calls("PATCH")) == 1
    assert f"lease of change request {rid}" in " ".join(health_report(bot.deps).get("damaged_rows", []))
    with bot.deps.store.engine.begin() as conn:
        assert conn.scalar(sa.select(change_requests.c.state).where(change_requests.c.id == rid)) == "applied"
