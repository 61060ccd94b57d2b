"""Approvals through Bolt on SQLite and PostgreSQL: the rules, the people and the helpers the suites share."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from conftest import Bot, make_bot

from bot.adapters.store import Store
from bot.domain import judge_access, snapshots
from bot.domain.change_requests import ChangeRequest
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackEvent, SlackState, SlackUser
from handlers.blocks import APPROVE

ALICE, BOB, CAROL, DAVE = "U0ALICE001", "U0BOB00001", "U0CAROL001", "U0DAVE0001"
LEADS = ["U0CAROL001", "U0LEAD0002", "U0LEAD0003", "U0LEAD0004"]
RULES = """
[approvals]
expire_after = "24h"

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = {approvals}
channels = ["C0DBAOPS01"]

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
"""
PROD = "bp01prod12h"


@pytest.fixture
def approvals_bot(settings: Any, slack: SlackState, planetscale_client: Any, store_url: str,
                  slack_server: Any) -> Iterator[Bot]:
    for n, user in enumerate(LEADS[1:], start=2):
        slack.add_user(SlackUser(user, f"lead{n}", f"Lead {n}", f"lead{n}@acme.example"))
    slack.add_usergroup("S0DBALEAD1", "dba-leads", LEADS)
    store = Store(store_url)
    store.migrate()
    for made in make_bot(settings, slack, planetscale_client, store, slack_server):
        made.use_rules(RULES.format(approvals=1))
        yield made
    store.close()


@pytest.fixture
def second_instance(approvals_bot: Bot, settings: Any, slack: SlackState, planetscale_client: Any,
                    slack_server: Any, store_url: str) -> Iterator[Bot]:
    """Another bot on the same database: its own process state (turns, locks, caches), the database shared; and
    the rules `approvals_bot` starts with, as instances of one deployment read one access file."""
    if not store_url.startswith("postgresql"):
        pytest.skip("two instances share a database only on PostgreSQL")
    store = Store(store_url)
    for made in make_bot(settings, slack, planetscale_client, store, slack_server):
        made.use_rules(RULES.format(approvals=1))
        yield made
    store.close()


def request_message(bot: Bot) -> SlackEvent:
    """The one message posted in a channel (not a reply in its thread, nor a direct message)."""
    [message] = [e for e in bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel in bot.slack.channels]
    return message


def thread_of(bot: Bot, message: SlackEvent) -> list[str]:
    """The replies under a message, oldest first."""
    return [e.text for e in bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
            and e.channel == message.channel]


def direct_messages(bot: Bot, user: str) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.channel == bot.slack.dm_channel(user)]


def sweep(bot: Bot) -> None:
    """One sweep, with the steps `serve` gives it (bot/runtime/running.py)."""
    from bot.runtime.running import make_sweeper

    make_sweeper(bot.deps, bot.app.client).sweep()


def swept_later(bot: Bot, seconds: float = 600) -> None:
    """One sweep, `seconds` from now on the bot's clocks (its changes' and its store's), which stay there."""
    later = time.time() + seconds
    bot.deps.changes.clock = lambda: later
    bot.deps.store.clock = lambda: later
    sweep(bot)


def sending_details(bot: Bot, request_id: str) -> list[str]:
    """What the audit trail's "sending" entries of the request say (whose approval sent it)."""
    return [e.detail or "" for e in bot.audit.all() if e.action == "sending" and e.request_id == request_id]


def latest_view(bot: Bot, message: SlackEvent) -> str:
    shown = [e for e in bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")]
    return json.dumps(shown[-1].blocks, ensure_ascii=False)


def request_id(message: SlackEvent) -> str:
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == APPROVE:
                return str(element["value"])
    raise AssertionError("no Approve button")


def ask(bot: Bot, text: str = f"update acme/app-db {PROD} retention=1d frequency=12h reason=\"cost\"") -> SlackEvent:
    bot.command(text, user=ALICE)
    return request_message(bot)


@contextlib.contextmanager
def policy_busy(bot: Bot, policy_id: str) -> Iterator[None]:
    """Another instance holds the policy's lease meanwhile, and a change asked does not wait for it: judged on a
    read without the lease, one that needs no approval is stored approved for the sweep, which reads it again
    under the lease."""
    holding = ChangeRequest("acme", "app-db", policy_id, "", "U0OTHER001", "C0OTHER001", {}, {}, 0, [], 0.0)
    claim = bot.deps.store.claim_for_applying(holding, (), 60.0)
    assert claim is not None
    waited = bot.deps.changes.claim_wait
    bot.deps.changes.claim_wait = 0.0
    try:
        yield
    finally:
        bot.deps.changes.claim_wait = waited
        bot.deps.store.release(claim)


def patch_in_flight(bot: Bot, planetscale: PlanetScaleState, policy_id: str, also: Sequence[Bot] = (),
                    change: str = "retention=9d") -> tuple[list[float], threading.Event, threading.Thread]:
    """alice's `change` (`retention=9d` unless given) on `policy_id`, its PATCH held at PlanetScale until the event
    is set, on a clock the test moves (`now[0]`, shared with the instances in `also`): returned once PlanetScale
    has the PATCH."""
    now = [1_000_000.0]
    for each in (bot, *also):
        each.deps.changes.clock = lambda: now[0]
        each.deps.store.clock = lambda: now[0]
    stalled = threading.Event()
    planetscale.add_fault(Fault(method="PATCH", until=stalled))
    worker = threading.Thread(target=bot.command, args=(f"update acme/app-db {policy_id} {change}",),
                              kwargs={"user": ALICE})
    worker.start()
    deadline = time.monotonic() + 60
    while not planetscale.calls("PATCH"):
        assert time.monotonic() < deadline, f"alice's {change} was never sent"
        time.sleep(0.02)
    return now, stalled, worker


def judged_snapshots(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every snapshot the judge is given from now on, in order; the judge itself still judges them."""
    judged: list[Any] = []
    real_judge = snapshots.judge

    def judge(snapshot: Any) -> Any:
        judged.append(snapshot)
        return real_judge(snapshot)

    monkeypatch.setattr(snapshots, "judge", judge)
    return judged


@pytest.fixture
def principal_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many principals of the access rules were read (`judge_access.is_group` asked), in its one item."""
    counted = [0]
    is_group = judge_access.is_group

    def counting(principal: str) -> bool:
        counted[0] += 1
        return is_group(principal)

    monkeypatch.setattr(judge_access, "is_group", counting)
    return counted
