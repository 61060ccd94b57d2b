"""Runs the watch (bot/domain/watch.py) on a timer in `serve`, `socket` and `backup-bot watch`: one instance at a
time holds the watch lease and reads; the notices it stores are posted by it, each once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from functools import partial

from slack_sdk import WebClient

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.store import Store
from bot.domain.watch import (
    DEFAULT_REQUEST_BUDGET,
    LEASE_MARGIN_SECONDS,
    WATCH_SHARE,
    Notice,
    PassResult,
    RequestBudget,
    Skipped,
    Watch,
)
from bot.runtime.repeating import Repeating
from handlers.dependencies import Dependencies
from handlers.watch import post_notice, post_skipped


class Watcher:
    def __init__(self, watch: Watch, store: Store, post: Callable[[Notice], bool], every: float,
                 tell_skipped: Callable[[list[Skipped]], bool] | None = None):
        self.watch = watch
        self.store = store
        self.post = post
        self.tell_skipped = tell_skipped
        self.every = every
        # What the last pass skipped (for /healthz), and what of it the audit channel was told (once each).
        self.skipped: list[Skipped] = []
        self._told: set[Skipped] = set()
        self.holder = str(uuid.uuid4())
        self._timer = Repeating("watch pass", self.run_once, every)
        self._lock = threading.Lock()  # one pass at a time in this process (the timer and the console's `watch`)

    @property
    def lease_seconds(self) -> float:
        """Renewed before each database: another instance takes the watch over once this one has missed two
        passes and the longest a pass may spend on one database."""
        return 2 * self.every + self.watch.planetscale.worst_case_seconds() + LEASE_MARGIN_SECONDS

    def run_once(self) -> PassResult | None:
        """One pass, if this instance holds (or can take) the watch; None if another instance watches."""
        with self._lock:
            if not self.store.take_watch_lease(self.holder, self.lease_seconds):
                return None
            result = self.watch.run_pass(self.holder, self.lease_seconds)
            self.post_pending()
            self._tell(result)
            return result

    def _tell(self, result: PassResult) -> None:
        """The audit channel hears once of each thing skipped, for as long as it stays skipped."""
        if result.lost_lease or result.deferred:
            return  # a pass cut short did not look at everything: what it did not skip may still be skipped
        self.skipped = list(result.skipped)
        new = [s for s in result.skipped if s not in self._told]
        if new and self.tell_skipped is not None and not self.tell_skipped(new):
            new = []  # Slack did not take it: told next pass
        self._told = (self._told & set(result.skipped)) | set(new)

    def post_pending(self) -> None:
        for notice in self.store.unposted_notices():
            if self.store.claim_watch_notice(notice.id) and not self.post(notice):
                self.store.unclaim_watch_notice(notice.id)
                return  # Slack is failing: the rest waits for the next pass

    def start(self) -> Watcher:
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop(timeout=30)
        self.store.release_watch_lease(self.holder)


def watch_budget(planetscale: object) -> RequestBudget:
    """The watch's share of this process's PlanetScale budget, per the limiter's period."""
    limiter = planetscale.limiter if isinstance(planetscale, PlanetScaleClient) else None
    if limiter is None:
        return RequestBudget(DEFAULT_REQUEST_BUDGET)
    return RequestBudget(max(1, int(limiter.requests * WATCH_SHARE)), limiter.per)


def build_watcher(deps: Dependencies, client: WebClient, every: float) -> Watcher:
    watch = Watch(deps.changes.planetscale, deps.store, lambda: deps.access.rules, deps.stale_factor,
                  watch_budget(deps.changes.planetscale))
    return Watcher(watch, deps.store, partial(post_notice, deps, client), every, partial(post_skipped, deps, client))
