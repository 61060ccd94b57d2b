"""Runs the watch (bot/domain/watch.py) on a timer in `serve`, `socket` and `backup-bot watch`: one instance at a
time holds the watch lease and reads; the notices it stores are posted by it, each once."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from functools import partial

from slack_sdk import WebClient

from bot.adapters.store import Store
from bot.domain.watch import LEASE_MARGIN_SECONDS, Notice, PassResult, Watch
from handlers.dependencies import Dependencies
from handlers.watch import post_notice

log = logging.getLogger(__name__)


class Watcher:
    def __init__(self, watch: Watch, store: Store, post: Callable[[Notice], bool], every: float):
        self.watch = watch
        self.store = store
        self.post = post
        self.every = every
        self.holder = str(uuid.uuid4())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watch", daemon=True)
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
            return result

    def post_pending(self) -> None:
        for notice in self.store.unposted_notices():
            if self.store.claim_watch_notice(notice.id) and not self.post(notice):
                self.store.unclaim_watch_notice(notice.id)
                return  # Slack is failing: the rest waits for the next pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("the watch pass failed; trying again in %.0f s", self.every)
            self._stop.wait(self.every)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.store.release_watch_lease(self.holder)


def build_watcher(deps: Dependencies, client: WebClient, every: float) -> Watcher:
    watch = Watch(deps.changes.planetscale, deps.store, lambda: deps.access.rules, deps.stale_factor)
    return Watcher(watch, deps.store, partial(post_notice, deps, client), every)
