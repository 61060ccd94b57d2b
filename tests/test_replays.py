"""Issue 19 item 13: a request Slack sent once is acted on once. A signed request replayed within the five
minutes Bolt accepts its timestamp, or retried by Slack (a new timestamp and signature, X-Slack-Retry-Num), or
delivered to two instances sharing one PostgreSQL, does its work once; the ack still answers at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ALICE, CHANNEL, OPEN_RULES, SIGNING_SECRET, Bot, make_bot

from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState
from bot.emulators.slack_requests import signed_headers
from handlers.blocks import REVERT

BOB = "U0BOB00001"
PROD = "bp01prod12h"


def retention(planetscale: PlanetScaleState) -> int:
    return int(planetscale.policy("acme", "app-db", PROD)["retention_value"])


def test_a_replayed_command_is_not_applied_again(bot: Bot, planetscale: PlanetScaleState) -> None:
    body = bot.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    headers = signed_headers(SIGNING_SECRET, body)
    first = bot.send(body, headers)
    assert "Checking your change" in first.ack_text and retention(planetscale) == 9
    bot.command(f"update acme/app-db {PROD} retention=5d", user=BOB)
    assert retention(planetscale) == 5
    replayed = bot.send(body, headers)  # the same signed request, seconds later: inside Bolt's window
    assert replayed.response.status == 200 and replayed.events == []
    assert retention(planetscale) == 5
    assert len(planetscale.calls("PATCH")) == 2


def test_slacks_retry_of_a_request_does_its_work_once(bot: Bot, planetscale: PlanetScaleState) -> None:
    body = bot.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    bot.send(body)
    retry = {**signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) + 2), "x-slack-retry-num": "1",
             "x-slack-retry-reason": "http_timeout"}
    again = bot.send(body, retry)
    assert again.response.status == 200 and again.events == []
    assert len(planetscale.calls("PATCH")) == 1


def test_a_replayed_revert_click_is_not_applied_again(bot: Bot, planetscale: PlanetScaleState) -> None:
    [message] = bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE).public
    value = next(e["value"] for b in message.blocks for e in b.get("elements", []) if e.get("action_id") == REVERT)
    body = bot.click_body(REVERT, value, user=ALICE, message=message)
    bot.send(body)
    assert retention(planetscale) == 2
    bot.command(f"update acme/app-db {PROD} retention=9d", user=BOB)
    bot.send(body, signed_headers(SIGNING_SECRET, body))  # the Revert click, replayed
    assert retention(planetscale) == 9
    assert [c.body["retention_value"] for c in planetscale.calls("PATCH")] == [9, 2, 9]


def test_each_distinct_request_is_still_acted_on(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    bot.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)  # same text, a new request from Slack
    assert [c.body["retention_value"] for c in planetscale.calls("PATCH")] == [9, 5, 9]


@pytest.fixture
def two_instances(settings: Any, slack: SlackState, planetscale_client: Any, postgres_url: str,
                  slack_server: Any) -> Iterator[list[Bot]]:
    stores = [Store(postgres_url), Store(postgres_url)]
    stores[0].migrate()
    made = [make_bot(settings, slack, planetscale_client, store, slack_server) for store in stores]
    bots = [next(m) for m in made]
    asking = OPEN_RULES.replace('approvers = ["@dba-leads"]', 'approvers = ["@dba-leads"]\napprovals = 1')
    for instance in bots:  # changes wait for an approval: each delivery acted on would post a request
        instance.use_rules(asking)
    yield bots
    for m in made:
        next(m, None)
    for store in stores:
        store.close()


def test_one_request_delivered_to_two_instances_is_acted_on_once(two_instances: list[Bot],
                                                                 planetscale: PlanetScaleState) -> None:
    body = two_instances[0].command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    headers = signed_headers(SIGNING_SECRET, body)
    together = threading.Barrier(2)

    def deliver(instance: Bot) -> None:
        together.wait()
        instance.send(body, headers)

    threads = [threading.Thread(target=deliver, args=(b,)) for b in two_instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([e for e in two_instances[0].slack.events if e.kind == "message" and e.channel == CHANNEL]) == 1
    assert len(two_instances[0].deps.store.requests(["pending"])) == 1
    assert planetscale.calls("PATCH") == []


def test_requests_are_remembered_for_an_hour_by_the_sweep(bot: Bot, planetscale: PlanetScaleState) -> None:
    import sqlalchemy as sa

    from bot.adapters.schema import deliveries
    from bot.runtime.sweeper import DELIVERY_MEMORY_SECONDS, Sweeper

    def remembered() -> int:
        with bot.deps.store.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(deliveries)) or 0)

    bot.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    sweeper = Sweeper(bot.deps.changes, lambda outcome: None, forget_deliveries=bot.deps.store.forget_deliveries)
    sweeper.sweep()
    assert remembered() == 1
    started = time.time()
    bot.deps.changes.clock = lambda: started + DELIVERY_MEMORY_SECONDS + 1
    sweeper.sweep()
    assert remembered() == 0


def test_clicks_on_an_applied_request_on_two_instances_post_it_to_the_audit_channel_once(
        two_instances: list[Bot], planetscale: PlanetScaleState) -> None:
    from approval_helpers import APPROVE, request_id

    first, second = two_instances
    for instance in two_instances:
        instance.deps.audit_channel = "C0RANDOM01"
    first.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    [message] = [e for e in first.slack.events if e.kind == "message" and e.channel == CHANNEL]
    rid = request_id(message)
    together = threading.Barrier(3)

    def click(instance: Bot) -> None:
        together.wait()
        instance.click(APPROVE, rid, user="U0CAROL001", message=message)

    threads = [threading.Thread(target=click, args=(b,)) for b in (first, second, first)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    second.click(APPROVE, rid, user="U0CAROL001", message=message)
    assert len(planetscale.calls("PATCH")) == 1
    assert len([e for e in first.slack.events if e.kind == "message" and e.channel == "C0RANDOM01"]) == 1
