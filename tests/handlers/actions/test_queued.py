"""Issue 19 item 5: a change that needs no approval but cannot be applied at once (another change holds its
policy, or PlanetScale did not confirm the PATCH) is posted in the channel then, and its message, thread and
requester hear how it ended when the sweep finishes it."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from approval_helpers import ALICE, approvals_bot, direct_messages, latest_view, sweep, thread_of
from conftest import CHANNEL, Bot

from bot.adapters.schema import policy_leases
from bot.domain.ports import Unreachable
from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name
DEV = "bp03devday"  # development: no approval needed
AUDIT = "C0RANDOM01"


def the_message(bot: Bot) -> Any:
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]
    return message


def told_how_it_ended(bot: Bot, planetscale: PlanetScaleState) -> None:
    message = the_message(bot)
    assert planetscale.policy("acme", "app-db", DEV)["retention_value"] == 5
    assert ":white_check_mark: <@U0ALICE001> changed" in latest_view(bot, message)
    assert any("Applied to PlanetScale" in r for r in thread_of(bot, message))
    assert any("was applied" in m for m in direct_messages(bot, ALICE))
    assert len([e for e in bot.slack.events if e.kind == "message" and e.channel == AUDIT]) == 1


def test_a_change_queued_behind_another_is_posted_and_its_result_told(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.deps.audit_channel = AUDIT
    changes, store = bot.deps.changes, bot.deps.store
    now = [time.time()]
    changes.clock = lambda: now[0]
    changes.pause = lambda seconds: now.__setitem__(0, now[0] + 20)  # waiting for the lease runs out at once
    with store.engine.begin() as conn:  # another instance is applying a change to the same policy
        conn.execute(policy_leases.insert().values(policy_key=f"acme/app-db/{DEV}", holder="other",
                                                   until=time.time() + 3600, generation=1))
    reply = bot.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
    assert planetscale.calls("PATCH") == []
    assert "applied after it" in reply.all_text()
    message = the_message(bot)  # the channel has a message to show the result on
    assert "Approved; applying" in message.text
    with store.engine.begin() as conn:  # the other change is done
        conn.execute(sa.update(policy_leases).values(until=0))
    now[0] += 120
    sweep(bot)
    sweep(bot)
    told_how_it_ended(bot, planetscale)


def test_a_change_whose_patch_went_unconfirmed_is_posted_and_its_result_told(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.deps.audit_channel = AUDIT
    changes = bot.deps.changes
    real_client, real_find = changes.planetscale, changes.policies.find_policy
    patched: list[str] = []

    def blind_find(db: Any, ref: str, visible: Any = None) -> Any:
        if patched:  # every read after the PATCH: the change path cannot learn how it ended
            raise Unreachable("PlanetScale did not answer in time.")
        return real_find(db, ref, visible)

    class Lossy:
        def worst_case_seconds(self) -> float:
            return real_client.worst_case_seconds()

        def update_policy(self, organization: str, database: str, policy_id: str, update: Any) -> Any:
            real_client.update_policy(organization, database, policy_id, update)  # it lands; the answer is lost
            patched.append(policy_id)
            raise Unreachable("PlanetScale did not answer in time: the change may or may not have been applied.")

    changes.policies.find_policy = blind_find  # type: ignore[method-assign]
    changes.planetscale = Lossy()  # type: ignore[assignment]
    try:
        reply = bot.command(f"update acme/app-db {DEV} retention=5d", user=ALICE)
    finally:
        changes.planetscale, changes.policies.find_policy = real_client, real_find  # type: ignore[method-assign]
    assert "message will show the result" in reply.all_text()
    assert "Applying" in the_message(bot).text
    sweep(bot)
    sweep(bot)
    told_how_it_ended(bot, planetscale)


def test_a_change_from_the_edit_form_queued_behind_another_is_posted_and_its_result_told(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.deps.audit_channel = AUDIT
    changes, store = bot.deps.changes, bot.deps.store
    now = [time.time()]
    changes.clock = lambda: now[0]
    changes.pause = lambda seconds: now.__setitem__(0, now[0] + 20)
    bot.command(f"edit acme/app-db {DEV}", user=ALICE)
    form = bot.current_view()
    confirm = bot.submit(form, {"retention_value": "5"}).ack["view"]
    confirm["id"] = form["id"]
    with store.engine.begin() as conn:  # another instance is applying a change to the same policy
        conn.execute(policy_leases.insert().values(policy_key=f"acme/app-db/{DEV}", holder="other",
                                                   until=time.time() + 3600, generation=1))
    bot.submit(confirm, {})
    assert planetscale.calls("PATCH") == []
    assert "Posted in the channel, not applied yet" in json.dumps(bot.current_view())
    assert "Approved; applying" in the_message(bot).text
    with store.engine.begin() as conn:
        conn.execute(sa.update(policy_leases).values(until=0))
    now[0] += 120
    sweep(bot)
    told_how_it_ended(bot, planetscale)
