"""What one Approve click costs: the Store calls and the Slack calls made for a click that completes a request
and applies it, through Bolt's signed pipeline. Each thing is read once; the bounds fail on a regression."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from approval_helpers import ALICE, CAROL, approvals_bot, ask, request_id, thread_of
from conftest import SIGNING_SECRET, Bot

from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack_requests import app_home_opened_body, signed_headers
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


@contextmanager
def counted_store(store: Store) -> Iterator[Counter[str]]:
    """Every call the app makes on the Store, by method; a Store method calling another counts once."""
    calls: Counter[str] = Counter()
    inside = threading.local()

    def counting(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            outermost = not getattr(inside, "depth", 0)
            if outermost:
                calls[name] += 1
            inside.depth = getattr(inside, "depth", 0) + 1
            try:
                return method(*args, **kwargs)
            finally:
                inside.depth -= 1
        return call

    names = [n for n in dir(Store) if not n.startswith("_") and callable(getattr(Store, n))]
    for name in names:
        setattr(store, name, counting(name, getattr(store, name)))
    try:
        yield calls
    finally:
        for name in names:
            delattr(store, name)


def open_home(bot: Bot, user: str) -> None:
    body = app_home_opened_body(user_id=user, event_id=f"Ev{len(bot.slack.events):08d}")
    bot.send(body, signed_headers(SIGNING_SECRET, body, content_type="application/json"))


def slack_calls(bot: Bot, since: int, response_events: int) -> Counter[str]:
    """Slack's Web API calls the emulator received since `since`, and the answers through response URLs."""
    found = Counter(name for name, _ in bot.slack.calls[since:])
    answers = sum(1 for e in bot.slack.events if e.kind == "response") - response_events
    if answers:
        found["response_url"] = answers
    return found


def click_counts(bot: Bot) -> tuple[Counter[str], Counter[str]]:
    message = ask(bot)
    open_home(bot, ALICE)
    open_home(bot, CAROL)
    since, responses = len(bot.slack.calls), sum(1 for e in bot.slack.events if e.kind == "response")
    with counted_store(bot.deps.store) as store_calls:
        bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert thread_of(bot, message)[-1].startswith(":white_check_mark: Applied")
    return store_calls, slack_calls(bot, since, responses)


def test_an_approval_that_applies_reads_each_thing_once(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    store_calls, slack = click_counts(approvals_bot)
    print("store", sum(store_calls.values()), dict(store_calls))
    print("slack", sum(slack.values()), dict(slack))
    for name, args in approvals_bot.slack.calls[-9:]:
        print(name, args.get("channel"), args.get("thread_ts"), str(args.get("text"))[:80])
    assert len(planetscale.calls("PATCH")) == 1
    assert False
