"""A change that needs no approval, queued behind another and applied later by the sweep, is judged on its
requester's rights as they are when it applies (review rev19u): taken out of the editors, or no longer a
PlanetScale admin where the rule asks one, nothing is sent."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from approval_helpers import ALICE, RULES, approvals_bot, sweep
from conftest import Bot

from bot.adapters.schema import policy_leases
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name
DEV = "bp03devday"  # development: no approval needed
ADMIN_DEV = RULES.format(approvals=1) + 'planetscale_role = "admin"\n'
BOB_ONLY = ADMIN_DEV.replace('editors = ["@dba-team"]\napprovers = ["@dba-leads"]\nplanetscale_role',
                             'editors = ["U0BOB00001"]\napprovers = ["@dba-leads"]\nplanetscale_role')


@pytest.mark.parametrize("lost", ["editor", "admin"])
def test_a_queued_change_is_not_sent_once_its_requester_lost_the_right_to_make_it(
        approvals_bot: Bot, planetscale: PlanetScaleState, lost: str) -> None:
    bot = approvals_bot
    bot.use_rules(ADMIN_DEV)
    changes, store = bot.deps.changes, bot.deps.store
    now = [time.time()]
    changes.clock = lambda: now[0]
    changes.pause = lambda seconds: now.__setitem__(0, now[0] + 20)  # waiting for the lease runs out at once
    with store.engine.begin() as conn:  # another instance is applying a change to the same policy
        conn.execute(policy_leases.insert().values(policy_key=f"acme/app-db/{DEV}", holder="other",
                                                   until=time.time() + 3600, generation=1))
    reply = bot.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
    assert "applied after it" in reply.all_text()
    [queued] = store.requests([RequestState.APPROVED])
    if lost == "editor":
        assert BOB_ONLY != ADMIN_DEV
        bot.use_rules(BOB_ONLY)
    else:
        for member in planetscale.members["acme"]:
            if member["user"]["email"].startswith("alice"):
                member["role"] = "member"
    with store.engine.begin() as conn:  # the other change is done
        conn.execute(sa.update(policy_leases).values(until=0))
    now[0] += 120
    sweep(bot)
    sweep(bot)
    assert planetscale.calls("PATCH") == [], "sent on the rights alice had when she asked"
    ended = store.get_request(queued.id)
    assert ended is not None and ended.state is RequestState.FAILED, ended
