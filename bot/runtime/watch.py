"""Runs the watch (bot/domain/watch.py) on a timer in `serve`, `socket` and `backup-bot watch`: one instance at a
time holds the watch lease and reads; the notices it stores are posted by it, each once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from functools import partial

from slack_sdk import WebClient

from bot.adapters.store import Store
from bot.domain.watch import LEASE_MARGIN_SECONDS, Notice, PassResult, Watch
from bot.runtime import metrics
from bot.runtime.repeating import Repeating
from handlers.dependencies import Dependencies
from handlers.watch import post_notice


class Watcher:
    def __init__(self, watch: Watch, store: Store, post: Callable[[Notice], bool], every: float):
        self.watch = watch
        self.store = store
        self.post = post
        self.every = every
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
                metrics.watch_pass(None)
                return None
            result = self.watch.run_pass(self.holder, self.lease_seconds)
            metrics.watch_pass(result)
            self.post_pending()
            return result

    def post_pending(self) -> None:
        for notice in self.store.unposted_notices():
            if self.store.claim_watch_notice(notice.id) and not self.post(notice):
                self.store.unclaim_watch_notice(notice.id)
                return  # Slack is failing: the rest waits for the next pass

    def start(self) -> Watcher:
        self._timer.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._timer.stop(timeout=timeout)
        self.store.release_watch_lease(self.holder)


def build_watcher(deps: Dependencies, client: WebClient, every: float) -> Watcher:
    watch = Watch(deps.changes.planetscale, deps.store, lambda: deps.access.rules, deps.stale_factor)
    return Watcher(watch, deps.store, partial(post_notice, deps, client), every)
