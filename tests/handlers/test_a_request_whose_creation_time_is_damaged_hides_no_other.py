"""A pending request whose creation time is damaged in the database (text, which SQLite keeps in a number's
column; a time no clock reaches, Infinity or NaN on PostgreSQL). Ordering the list by age compared it with the
others' times: on SQLite `/backup-policy pending` answered "Something went wrong" and no Home could be built for
anyone it concerned, whatever else waited for them. Now the others are listed, and /healthz names the row."""

from __future__ import annotations

import json

import sqlalchemy as sa
from approval_helpers import ALICE, CAROL, approvals_bot
from conftest import Bot
from damaged_times import damaged_times, skip_unless_held
from home_helpers import open_home

from bot.runtime.app import health_report

__all__ = ["approvals_bot"]  # a fixture, used by name


@damaged_times("when")
def test_a_request_whose_creation_time_is_damaged_hides_no_other_from_pending_or_the_home(
        approvals_bot: Bot, when: object) -> None:
    bot = approvals_bot
    skip_unless_held(bot, when)
    bot.command("update acme/app-db bp01prod12h retention=1d", user=ALICE)
    bot.command("update acme/app-db bp01prod12h frequency=6h", user=ALICE)
    with bot.deps.store.engine.begin() as conn:
        damaged, other = conn.execute(sa.text("select id from change_requests order by created_at")).scalars().all()
        assert conn.execute(sa.text("update change_requests set created_at = :when where id = :id"),
                            {"when": when, "id": damaged}).rowcount == 1
    for user in (CAROL, ALICE):  # an approver's list, and the requester's own
        said = bot.command("pending", user=user).all_text()
        home = json.dumps(open_home(bot, user)["blocks"], ensure_ascii=False)
        for shown in (said, home):
            assert "Something went wrong" not in shown and "could not be shown" not in shown, shown[:800]
            assert other in shown, shown[:800]
    if isinstance(when, str):
        assert f"change request {damaged}" in " ".join(health_report(bot.deps).get("damaged_rows", []))
