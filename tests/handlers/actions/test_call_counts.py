"""What one Approve click costs: the Store calls and the Slack calls made for a click that completes a request
and applies it, through Bolt's signed pipeline. Each thing is read once; the bounds fail on a regression."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from approval_helpers import ALICE, CAROL, approvals_bot, ask, request_id, thread_of
from conftest import SIGNING_SECRET, Bot
from store_calls import watched_store

from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from bot.emulators.slack_requests import app_home_opened_body, block_actions_body, signed_headers
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name


@contextmanager
def counted_store(store: Store) -> Iterator[Counter[str]]:
    """Every call the app makes on the Store, by method; a Store method calling another counts once."""
    calls: Counter[str] = Counter()
    with watched_store(store, lambda name: calls.update([name])):
        yield calls


def open_home(bot: Bot, user: str) -> None:
    body = app_home_opened_body(user_id=user, event_id=f"Ev{len(bot.slack.events):08d}")
    bot.send(body, signed_headers(SIGNING_SECRET, body, content_type="application/json"))


def click_on_home(bot: Bot, user: str, action_id: str, value: str) -> None:
    """A click on the Home tab: Slack sends the view, and no response URL."""
    body = block_actions_body(user_id=user, user_name=bot.slack.users[user].name, channel_id="", response_url="",
                              trigger_id=bot.slack.new_trigger_id(), view=bot.slack.homes[user],
                              action={"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                                      "text": {"type": "plain_text", "text": action_id}})
    bot.send(body)


def slack_calls(bot: Bot, since: int, response_events: int) -> Counter[str]:
    """Slack's Web API calls the emulator received since `since`, and the answers through response URLs."""
    found = Counter(name for name, _ in bot.slack.calls[since:])
    answers = sum(1 for e in bot.slack.events if e.kind == "response") - response_events
    if answers:
        found["response_url"] = answers
    return found


def click_counts(bot: Bot, message: SlackEvent, user: str = CAROL,
                 click: Callable[[], object] | None = None) -> tuple[Counter[str], Counter[str]]:
    since, responses = len(bot.slack.calls), sum(1 for e in bot.slack.events if e.kind == "response")
    with counted_store(bot.deps.store) as store_calls:
        if click is None:
            bot.click(APPROVE, request_id(message), user=user, message=message)
        else:
            click()
    assert thread_of(bot, message)[-1].startswith(":white_check_mark: Applied")
    return store_calls, slack_calls(bot, since, responses)


def test_an_approval_that_applies_reads_each_thing_once(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    # docs/benchmarks.md keeps the figures before and after.
    store_calls, slack = click_counts(approvals_bot, ask(approvals_bot))
    assert len(planetscale.calls("PATCH")) == 1
    # batch_of_request: a click's step goes the sweep's one way, which asks whether the request is a bulk
    # change's member (whose batch is then told) before telling it as a request of its own.
    assert store_calls == Counter({"get_request": 1, "add_approval": 1, "transition": 2, "claim_for_applying": 1,
                                   "renew": 1, "claim_notices": 2, "mark_told": 1, "batch_of_request": 1})
    # Each thread reply and DM is claimed with the mark that it was tried (one call each), so that a second try
    # looks before it posts.
    assert sum(store_calls.values()) <= 10
    # The user groups listed after the click (an approver taken out of a group within the cache's minute does not
    # count), the requester and the approver asked whether Slack still has them active (once each, after the
    # click), the message shown as it now stands, one reply in its thread (applied, and by whose approval), and
    # the requester told.
    assert slack == Counter({"usergroups.list": 1, "users.info": 2, "chat.update": 1, "chat.postMessage": 2})


def test_homes_are_published_again_only_for_those_who_opened_them_lately_once_each(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    open_home(approvals_bot, ALICE)
    open_home(approvals_bot, CAROL)
    _, slack = click_counts(approvals_bot, message, click=lambda: click_on_home(approvals_bot, CAROL, APPROVE,
                                                                               request_id(message)))
    published = Counter(args["user_id"] for name, args in approvals_bot.slack.calls if name == "views.publish")
    assert slack["views.publish"] == 2  # Carol's, with the answer to her click, and Alice's; no other lead's
    assert "Applied." in json.dumps(approvals_bot.slack.homes[CAROL]["blocks"][:1])
    assert "You have no open requests." in json.dumps(approvals_bot.slack.homes[ALICE]["blocks"])
    assert set(published) == {ALICE, CAROL}


def test_a_home_opened_long_ago_is_not_published_again(approvals_bot: Bot) -> None:
    now = [1000.0]
    approvals_bot.deps.home_viewers.clock = lambda: now[0]
    open_home(approvals_bot, CAROL)
    now[0] += 31 * 60
    message = ask(approvals_bot)
    before = len(approvals_bot.slack.method_calls("views.publish"))
    click_counts(approvals_bot, message)
    assert len(approvals_bot.slack.method_calls("views.publish")) == before
    now[0] += 1
    open_home(approvals_bot, CAROL)  # opened again: published then, and kept true after
    assert len(approvals_bot.slack.method_calls("views.publish")) == before + 1


def test_the_trail_names_the_approver_plainly_and_history_mentions_them(approvals_bot: Bot) -> None:
    click_counts(approvals_bot, ask(approvals_bot))
    [applied] = [e for e in approvals_bot.audit.all() if e.action == "applied"]
    assert applied.detail == f"approved by @{CAROL}"
    shown = approvals_bot.command("history acme/app-db", user=ALICE).all_text()
    assert f"approved by <@{CAROL}>" in shown and f"@{CAROL})" not in shown.replace(f"<@{CAROL}>", "")
