"""A bulk change's policy the bot closed as not applied (its PATCH answered 504, PlanetScale did not show it once a
lease had passed) whose PATCH PlanetScale carried out all the same: the watch finds it and records it applied.
Its requester, its thread and the audit channel were told it was not applied (and offered a Retry): each is told
it was applied after all, once; its message shows it applied. Through Bolt, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from approval_helpers import ALICE, CAROL, sweep
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from bulk_helpers import button, channel_messages, latest
from conftest import Bot
from test_watch import watch_pass
from watch_helpers import watched as watched  # the fixture

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.runtime.watch import Watcher
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

AUDIT = "C0RANDOM01"  # an audit channel of its own, apart from the bulk change's


class Held(threading.Event):
    """PlanetScale holds a request until this is set; `arrived` is set once it holds one."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.arrived.set()
        return super().wait(timeout)


def add_databases(planetscale: PlanetScaleState, count: int) -> list[str]:
    names = [f"gate-{n:02d}" for n in range(1, count + 1)]
    for name in names:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    return names


def batch_of(store: Any) -> str:
    """The one bulk change asked."""
    with store.reader.connect() as conn:
        return str(conn.exec_driver_sql("select id from change_batches").scalar())


def said(bot: Bot, since: int, channel: str, words: str) -> list[str]:
    return [e.text + json.dumps(e.blocks) for e in bot.slack.events[since:]
            if e.kind == "message" and e.channel == channel and words in e.text + json.dumps(e.blocks)]


def approved_with_one_unconfirmed(bot: Bot, watcher: Watcher,
                                  planetscale: PlanetScaleState) -> tuple[list[float], list[str], Any, str]:
    """Three databases' policies in one bulk change asked by alice and approved by carol, the second's PATCH
    answered 504 (PlanetScale may still carry it out): the bot's clock (`now[0]`), the databases, the bulk change's
    message and its ID."""
    changes, store = bot.deps.changes, bot.deps.store
    now = [time.time()]  # PlanetScale's own times are real: the landing is matched against when it was sent
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    dbs = add_databases(planetscale, 3)
    watch_pass(bot, watcher)
    bot.command('update acme/gate-* "Production daily" retention=14d', user=ALICE)
    [message] = [m for m in channel_messages(bot) if "asks to change" in m.text]
    batch_id = button(message, BULK_APPROVE)
    planetscale.add_fault(Fault(status=504, method="PATCH", path_contains=f"/databases/{dbs[1]}/"))
    bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    return now, dbs, message, batch_id


def test_a_bulk_policy_closed_as_not_applied_whose_patch_landed_later_is_told_applied_everywhere_once(
    watched: tuple[Bot, Watcher], planetscale: PlanetScaleState
) -> None:
    """Before: only its message was rewritten; the requester's direct message ("1 not applied … offers to retry
    them"), the thread's "How each policy ended" and the audit channel's entry still said it was not applied."""
    bot, watcher = watched
    bot.deps.audit_channel = AUDIT
    changes, store = bot.deps.changes, bot.deps.store
    now, dbs, message, batch_id = approved_with_one_unconfirmed(bot, watcher, planetscale)
    now[0] += changes.lease_seconds + 1
    sweep(bot)  # PlanetScale does not show it: closed as not applied, told so everywhere
    [member] = [m for m in store.batch_members(batch_id) if m.request.database == dbs[1]]
    assert member.request.state is RequestState.FAILED
    assert said(bot, 0, "D0ALICE001", "1 not applied*") and said(bot, 0, AUDIT, "1 not applied*")
    told = len(bot.slack.events)
    now[0] += 60  # the watch's next pass, a minute later
    planetscale.dashboard_change("acme", dbs[1], f"{dbs[1]}-prod", retention_value=14, retention_unit="day")
    assert watch_pass(bot, watcher) == []  # the bot's own change, not one made outside it
    sweep(bot)
    sweep(bot)
    [member] = [m for m in store.batch_members(batch_id) if m.request.database == dbs[1]]
    assert member.request.state is RequestState.APPLIED
    shown = json.dumps(latest(bot, message).blocks)
    assert "Applied to 3 of 3" in shown and BULK_RETRY not in shown
    for where in ("D0ALICE001", AUDIT, message.channel):
        corrected = said(bot, told, where, "applied after all")
        assert len(corrected) == 1, (where, [(e.channel, e.text) for e in bot.slack.events[told:]])
        assert f"`{dbs[1]}`" in corrected[0]


def test_a_bulk_policy_closed_as_not_applied_whose_worker_hears_it_landed_is_told_applied_everywhere_once(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The worker sending a policy's PATCH stalls past its lease; the sweep takes it over, does not find it in
    PlanetScale, closes it as not applied and finishes the bulk change. Then PlanetScale carries the PATCH out and
    the worker hears so: recorded applied, and told so where "not applied" was told."""
    bot = approvals_bot
    bot.deps.audit_channel = AUDIT
    changes, store = bot.deps.changes, bot.deps.store
    now = [1_000_000.0]
    changes.clock = lambda: now[0]
    store.clock = lambda: now[0]
    dbs = add_databases(planetscale, 3)
    for db in dbs:
        planetscale.policies[("acme", db)][f"{db}-prod"]["target"] = "development"  # applied at once
    stalled = Held()
    planetscale.add_fault(Fault(method="PATCH", until=stalled, path_contains=f"/databases/{dbs[1]}/"))
    worker = threading.Thread(target=bot.command, args=('update acme/gate-* "Production daily" retention=14d',),
                              kwargs={"user": ALICE})
    worker.start()
    assert stalled.arrived.wait(60), "the stalled PATCH was never sent"
    now[0] += changes.lease_seconds + 1
    sweep(bot)  # takes the stalled one over (not in PlanetScale: not applied) and applies the one left
    sweep(bot)
    members = {m.request.database: m.request for m in store.batch_members(batch_of(store))}
    assert members[dbs[1]].state is RequestState.FAILED, members
    assert said(bot, 0, "D0ALICE001", "1 not applied*")
    told = len(bot.slack.events)
    now[0] += 1
    stalled.set()  # PlanetScale carries it out, and the worker hears it
    worker.join(30)
    assert not worker.is_alive()
    sweep(bot)
    members = {m.request.database: m.request for m in store.batch_members(batch_of(store))}
    assert members[dbs[1]].state is RequestState.APPLIED, members
    assert len([c for c in planetscale.calls("PATCH") if f"/databases/{dbs[1]}/" in c.path]) == 1
    for where in ("D0ALICE001", AUDIT):
        corrected = said(bot, told, where, "applied after all")
        assert len(corrected) == 1, (where, [(e.channel, e.text) for e in bot.slack.events[told:]])
