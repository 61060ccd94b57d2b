"""Slack rate limiting the audit channel in the middle of the watch's posting: the wait Slack asks (within the
watcher's bound) is waited out in the pass, on the watcher's injected sleep, and every notice found is posted once,
none left for the next pass. A wait past the bound leaves the rest for later, told by `/healthz`, and no try is made
before Slack's Retry-After. Waits are recorded, not slept."""

from __future__ import annotations

from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.runtime.watch import Watcher

CHANGED = ("bp01prod12h", "bp02prodwk", "bp03devday")


def three_changes(planetscale: PlanetScaleState) -> None:
    for policy in CHANGED:
        planetscale.dashboard_change("acme", "app-db", policy, retention_value=5)


def drift_posts(bot: Bot) -> list[str]:
    return [e.text for e in bot.slack.events if e.kind == "message" and e.text.startswith(":eyes:")]


def recorded(bot: Bot, watcher: Watcher) -> tuple[list[float], list[float]]:
    """The client's waits and the watcher's, recorded instead of slept."""
    client, watcher_waits = [], []
    bot.app.client.http.sleep = client.append  # type: ignore[attr-defined]
    watcher.sleep = watcher_waits.append
    return client, watcher_waits


def three_changes_met_by(fault: MethodFault, bot: Bot, watcher: Watcher, planetscale: PlanetScaleState) -> int:
    """After a first quiet pass, three policies changed and Slack's chat.postMessage faulted: its calls so far."""
    watcher.run_once()
    three_changes(planetscale)
    bot.slack.add_fault(fault)
    return len(bot.slack.method_calls("chat.postMessage"))


def each_once(bot: Bot) -> None:
    posts = drift_posts(bot)
    assert len(posts) == len(set(posts)) == len(CHANGED), posts


def posted_once_lifted_an_hour_later(fault: MethodFault, bot: Bot, watcher: Watcher, now: list[float]) -> None:
    """Slack's limit lifted an hour on: the next flush posts every notice held back, once."""
    with bot.slack.lock:
        bot.slack.faults.remove(fault)
    now[0] += 3600
    watcher.post_pending()
    each_once(bot)
    assert bot.deps.store.unposted_notices() == [] and watcher.unposted is None


def test_a_429_asking_45_seconds_is_waited_out_and_every_notice_is_posted_in_the_pass(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    client_waits, watcher_waits = recorded(bot, watcher)
    three_changes_met_by(MethodFault(method="chat.postMessage", status=429, retry_after=45, times=1), bot, watcher,
                         planetscale)
    result = watcher.run_once()
    assert result is not None and len(result.notices) == len(CHANGED)
    each_once(bot)
    assert bot.deps.store.unposted_notices() == []
    assert watcher.unposted is None
    assert client_waits == [] and watcher_waits == [45]


def test_429s_past_the_clients_retries_are_waited_out_and_the_rest_posted(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    client_waits, watcher_waits = recorded(bot, watcher)
    three_changes_met_by(MethodFault(method="chat.postMessage", status=429, retry_after=1, times=3, skip=1), bot,
                         watcher, planetscale)
    watcher.run_once()
    each_once(bot)
    assert bot.deps.store.unposted_notices() == []
    assert client_waits == [1, 1] and watcher_waits == [1]


def test_a_429_past_the_watchers_bound_leaves_the_rest_told_and_tried_after_slacks_wait(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    client_waits, watcher_waits = recorded(bot, watcher)
    now = [1000.0]
    watcher.clock = lambda: now[0]
    fault = MethodFault(method="chat.postMessage", status=429, retry_after=3600, times=None)
    before = three_changes_met_by(fault, bot, watcher, planetscale)
    watcher.run_once()
    tried = len(bot.slack.method_calls("chat.postMessage"))
    assert tried == before + 1 and watcher_waits == [] and client_waits == []
    assert len(bot.deps.store.unposted_notices()) == len(CHANGED)
    assert watcher.unposted is not None and "3 notices" in watcher.unposted and "ratelimited" in watcher.unposted
    watcher.post_pending()  # a flush before Slack's hour is out tries nothing
    assert len(bot.slack.method_calls("chat.postMessage")) == tried
    posted_once_lifted_an_hour_later(fault, bot, watcher, now)


def test_a_429_asking_no_wait_again_and_again_ends_the_round_not_a_loop(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    _, watcher_waits = recorded(bot, watcher)
    before = three_changes_met_by(MethodFault(method="chat.postMessage", status=429, retry_after=0, times=None), bot,
                                  watcher, planetscale)
    watcher.run_once()
    assert len(watcher_waits) <= 4, watcher_waits  # 120 s of waits, each counted as 30 s at least
    assert len(bot.slack.method_calls("chat.postMessage")) - before <= 3 * (len(watcher_waits) + 1)
    assert len(bot.deps.store.unposted_notices()) == len(CHANGED)
    assert watcher.unposted is not None and "ratelimited" in watcher.unposted


def test_a_retry_after_no_rate_limit_means_holds_the_notices_back_an_hour_not_for_ever(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    recorded(bot, watcher)
    now = [1000.0]
    watcher.clock = lambda: now[0]
    fault = MethodFault(method="chat.postMessage", status=429, retry_after=10 ** 400, times=None)  # read as inf
    three_changes_met_by(fault, bot, watcher, planetscale)
    watcher.run_once()
    assert len(bot.deps.store.unposted_notices()) == len(CHANGED)
    assert watcher.unposted is not None and "more than a day; tried again in an hour" in watcher.unposted
    posted_once_lifted_an_hour_later(fault, bot, watcher, now)


def test_a_stop_during_the_wait_for_slack_tries_no_post_into_the_rate_limit(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    """A post tried once the stop ended the wait would meet Slack's limit again, and the client's own waits (up to a
    minute, slept) would hold the shutdown."""
    bot, watcher = watched
    client_waits, _ = recorded(bot, watcher)
    at_stop: list[tuple[int, int]] = []

    def stopped(seconds: float) -> None:  # the process is told to stop while the watch waits out Slack's limit
        at_stop.append((len(bot.slack.method_calls("chat.postMessage")), len(client_waits)))
        watcher.stop(timeout=1)

    watcher.sleep = stopped
    three_changes_met_by(MethodFault(method="chat.postMessage", status=429, retry_after=20, times=None), bot,
                         watcher, planetscale)
    watcher.run_once()
    assert at_stop == [(len(bot.slack.method_calls("chat.postMessage")), len(client_waits))]
    assert len(bot.deps.store.unposted_notices()) == len(CHANGED)
