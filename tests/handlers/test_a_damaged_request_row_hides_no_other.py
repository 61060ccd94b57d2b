"""One open change request whose stored JSON was damaged in the database (SQLite keeps whatever text a hand or a
broken disk wrote) must not take down every approver's App Home and `pending` list: the others are shown."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from home_helpers import open_home

from bot.emulators.planetscale_state import PlanetScaleState


@pytest.mark.xfail(strict=True, reason="defect: a change request whose `before`/`changes` JSON is damaged in the "
                   "database raises JSONDecodeError wherever open requests are read (every approver's App Home shows "
                   "'Something went wrong'); fix: read change_requests' JSON columns as text and skip (log, count) "
                   "a row that does not decode, as the audit trail now does (store/rows.stored_json)")
def test_an_approvers_home_shows_the_other_requests_beside_a_damaged_one(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    if not bot.deps.store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL's json type refuses damaged JSON at the door")
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    bot.command(f"update acme/app-db {PROD} frequency=6h", user=ALICE)
    engine = sa.create_engine(bot.deps.store.url)
    with engine.begin() as conn:
        first = conn.execute(sa.text("select id from change_requests order by created_at limit 1")).scalar_one()
        conn.execute(sa.text("update change_requests set changes = '{\"retention_value\": 9' where id = :id"),
                     {"id": first})
    engine.dispose()
    home = json.dumps(open_home(bot, CAROL), ensure_ascii=False)
    assert "Something went wrong" not in home, home
    assert "6 hours" in home or "every 6" in home, home
