"""Runs the watch (bot/domain/watch.py) on a timer in `serve`, `socket` and `backup-bot watch`: one instance at a
time holds the watch lease and reads; the notices it stores are posted by it, each once."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial

from slack_sdk import WebClient

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.rate_limit import describe_wait
from bot.adapters.store import Store
from bot.adapters.store.row_waits import brief_row_waits, row_held
from bot.adapters.watch_progress import WatchProgress
from bot.domain.request_budget import DEFAULT_REQUEST_BUDGET
from bot.domain.watch import LEASE_MARGIN_SECONDS, PassResult, Watch
from bot.domain.watch_share import DEFAULT_WATCH_SHARE, WatchShare
from bot.domain.watch_skips import Skipped
from bot.domain.watch_state import Notice
from bot.runtime import metrics
from bot.runtime.repeating import Repeating
from handlers.dependencies import Dependencies
from handlers.watch import Why, post_notice, post_skipped

log = logging.getLogger(__name__)
# How often the watch lease is renewed (or, by another instance, taken over): a crashed watcher is replaced within
# about three of these, whatever BACKUP_BOT_WATCH_EVERY is.
HEARTBEAT_SECONDS = 30.0
# How long another instance leaves a notice claimed by this one before it posts it itself: longer than a post takes.
NOTICE_CLAIM_SECONDS = 300.0
# During a long pass, what it found is posted this often, not only at its end.
NOTICE_FLUSH_SECONDS = 10.0
# The longest Retry-After Slack's rate limit of the audit channel is waited out within a pass, and all such waits of
# one round of posting: the rest is posted then, not a pass later. Past them the rest waits for Slack's time.
MOST_SLACK_WAIT_SECONDS, ALL_SLACK_WAITS_SECONDS = 60.0, 120.0
# Each wait counts at least this much: a Retry-After of 0 answered again and again ends the round, not loops.
LEAST_SLACK_WAIT_SECONDS = 30.0
# The longest Slack's Retry-After holds the watch's posts back: a header of years (or one read as infinite) would
# otherwise silence the audit channel until a restart.
MOST_SLACK_HOLD_SECONDS = 3600.0


class Watcher:
    def __init__(self, watch: Watch, store: Store, post: Callable[[Notice, bool, list[str]], bool], every: float,
                 tell_skipped: Callable[[list[Skipped], float | None], bool] | None = None):
        self.watch = watch
        self.store = store
        self.post = post
        self.tell_skipped = tell_skipped
        self.every = every
        # What the last pass skipped (for /healthz).
        self.skipped: list[Skipped] = []
        # For /healthz: the notices Slack did not take at the last try, and why; None once all are posted.
        self.unposted: str | None = None
        # For /healthz: the notices posted whose marking as posted the database refused at the last pass.
        self.unmarked: str | None = None
        # The skipped list last tried without Slack saying it took it (its answer may have been lost), and when it
        # was first tried: the same list is looked for in the channel from then before it is posted again.
        self._skipped_tried: tuple[frozenset[tuple[str, str]], float] | None = None
        self.holder = str(uuid.uuid4())
        # Every `every` from the start of the last pass: a cycle longer than that goes on at once.
        self._timer = Repeating("watch pass", self.run_once, every, fixed_rate=True)
        self._heartbeat = Repeating("watch lease", self.keep_lease, HEARTBEAT_SECONDS)
        self._lock = threading.Lock()  # one pass at a time in this process (the timer and the console's `watch`)
        self._held = False
        self._last_pass: float | None = None
        self._flushed = 0.0
        self.clock = time.monotonic
        # Slack's rate limit of the audit channel: no post is tried before this (on `clock`).
        self._slack_free_at = float("-inf")
        self._stopping = threading.Event()
        self.sleep: Callable[[float], object] = self._stopping.wait  # a wait `stop` ends

    @property
    def lease_seconds(self) -> float:
        """Renewed every HEARTBEAT_SECONDS while this process lives, whatever the interval and however long a call
        takes: another instance takes the watch over once two heartbeats are missed."""
        return 2 * HEARTBEAT_SECONDS + LEASE_MARGIN_SECONDS

    def keep_lease(self) -> None:
        """The heartbeat: the holder renews the lease; any other instance takes it once its holder stopped renewing
        it (a crash), and then watches at once if no pass has run here for an interval."""
        held = self._take_lease("heartbeat")
        if held is None:
            return
        took_over, self._held = held and not self._held, held
        overdue = self._last_pass is None or self.clock() - self._last_pass >= self.every
        if took_over and overdue and not self._lock.locked():
            self.run_once()

    def _take_lease(self, what: str) -> bool | None:
        """Whether this instance holds the watch lease now; None when its row is held by another session past a
        brief wait: the lease, lasting two heartbeats and more, is renewed (or the pass run) next time."""
        try:
            with brief_row_waits():
                return self.store.take_watch_lease(self.holder, self.lease_seconds)
        except Exception as exc:
            if not row_held(exc):
                raise
            log.warning("the watch lease's row is held by another session: this %s is skipped, the next %s "
                        "tries again", what, what)
            return None

    def run_once(self) -> PassResult | None:
        """One pass, if this instance holds (or can take) the watch; None if another instance watches, or the
        lease's row is held by another session."""
        with self._lock:
            taken = self._take_lease("pass")
            if not taken:
                self._held = self._held if taken is None else False
                metrics.watch_pass(None)
                return None
            self._held = True
            self._last_pass = self.clock()
            self._flushed = self.clock()
            result = self.watch.run_pass(self.holder, self.lease_seconds, self._flush)
            metrics.watch_pass(result)
            log.info("watch pass: %d database(s) read, %d not answered, %d left for the next pass; %d policies' "
                     "backups read; %d finding(s), %d skipped", len(result.read), len(result.failed),
                     len(result.deferred), result.backups_read, len(result.notices), len(result.skipped))
            self.post_pending()
            self._tell(result)
            return result

    def _flush(self) -> None:
        """Within a long pass, what it found so far is posted every NOTICE_FLUSH_SECONDS."""
        if self.clock() - self._flushed >= NOTICE_FLUSH_SECONDS:
            self._flushed = self.clock()
            self.post_pending()

    def _tell(self, result: PassResult) -> None:
        """The audit channel hears once of each thing skipped, for as long as it stays skipped."""
        if result.lost_lease or not result.whole_cycle:
            return  # a pass that did not look at everything: what it did not skip may still be skipped
        self.skipped = list(result.skipped)
        # Claimed in the store, not kept here: a restart or another instance taking the watch over tells none again.
        claimed = self.store.claim_skipped([(s.what, s.reason) for s in result.skipped])
        new = [Skipped(what, why) for what, why in claimed]
        if not new or self.tell_skipped is None:
            return
        items = frozenset(claimed)
        tried = self._skipped_tried
        since = tried[1] if tried is not None and tried[0] == items else None
        attempt = time.time()
        if self.tell_skipped(new, since):
            self._skipped_tried = None
        else:
            self.store.unclaim_skipped(claimed)  # Slack did not take it: told next pass
            self._skipped_tried = (items, attempt if since is None else since)

    def post_pending(self) -> None:
        if self.clock() < self._slack_free_at:
            return  # Slack said when it takes posts again: a try before then is refused for sure
        pending = self.store.unposted_notices()
        unmarked, waited = 0, 0.0
        for done, notice in enumerate(pending):
            try:  # one row the database cannot write now (locked by another session) holds back no other
                tried = self.store.watch_notice_tried(notice.id)
                if not self.store.claim_watch_notice(notice.id, self.holder, NOTICE_CLAIM_SECONDS):
                    continue
            except Exception:
                log.exception("the watch's notice %s could not be claimed; tried again next pass", notice.id)
                continue
            posted, why = self._post(notice, tried)
            while not posted and why.retry_after is not None and self._waits_out(why.retry_after, waited):
                # Rate limited: nothing was posted, so the same post is made once Slack's wait is out.
                waited += max(why.retry_after, LEAST_SLACK_WAIT_SECONDS)
                posted, why = self._post(notice, tried)
            if not posted:
                try:
                    self.store.unclaim_watch_notice(notice.id)
                except Exception:  # its claim, this holder's, ends by itself
                    log.exception("the watch's notice %s could not be unclaimed", notice.id)
                left = len(pending) - done
                when = "tried again each pass"
                if why.retry_after is not None:
                    held = min(why.retry_after, MOST_SLACK_HOLD_SECONDS)
                    self._slack_free_at = self.clock() + held
                    when = f"Slack asked to wait {describe_wait(why.retry_after)}; tried again " + (
                        "after that" if held == why.retry_after else "in an hour")
                self.unposted = (f"{left} notice{'s' if left != 1 else ''} not yet posted to the audit channel: "
                                 f"{why[-1] if why else 'Slack did not take them'}; {when}")
                self._unmarked(unmarked)
                return  # Slack is failing: the rest waits for the next pass
            try:
                self.store.watch_notice_posted(notice.id)
            except Exception:
                # Still claimed by this holder: the next pass finds it in the channel (tried) and marks it then.
                log.exception("the watch's notice %s was posted but could not be marked so; the next pass finds it "
                              "in the channel and marks it", notice.id)
                unmarked += 1
        self.unposted = None
        self._unmarked(unmarked)

    def _waits_out(self, seconds: float, waited: float) -> bool:
        """Whether Slack's Retry-After of `seconds` is waited out here (and is), `waited` already waited."""
        counted = max(seconds, LEAST_SLACK_WAIT_SECONDS)
        if self._stopping.is_set() or seconds > MOST_SLACK_WAIT_SECONDS or waited + counted > ALL_SLACK_WAITS_SECONDS:
            return False
        log.info("Slack rate limits the audit channel: the watch's notices wait %s", describe_wait(seconds))
        self.sleep(seconds)
        return not self._stopping.is_set()  # a stop ended the wait early: Slack's limit holds yet

    def _post(self, notice: Notice, tried: bool) -> tuple[bool, Why]:
        why = Why()
        try:
            return self.post(notice, tried, why), why
        except Exception as exc:  # claimed, so it is unclaimed for the next pass (or its claim ends)
            log.exception("posting the watch's notice %s failed", notice.id)
            failed = Why([type(exc).__name__])
            return False, failed

    def _unmarked(self, count: int) -> None:
        self.unmarked = None if not count else (
            f"{count} notice{'s' if count != 1 else ''} posted to the audit channel but not marked posted in the "
            "database (its write failed): the next pass finds each in the channel and marks it, not posting it again")

    def start(self) -> Watcher:
        self._timer.start()
        self._heartbeat.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()  # a wait for Slack's rate limit ends
        self.watch.share.stop()  # a pass waiting for its share ends there
        self._heartbeat.stop(timeout=timeout)
        self._timer.stop(timeout=timeout)
        self.store.release_watch_lease(self.holder)


def watch_share(planetscale: object, share: float = DEFAULT_WATCH_SHARE) -> WatchShare:
    """The watch's share of the PlanetScale budget (per the limiter's period), yielding while people need it."""
    limiter = planetscale.limiter if isinstance(planetscale, PlanetScaleClient) else None
    if limiter is None:  # a client without a budget of its own (tests): the share may go at once
        return WatchShare(DEFAULT_REQUEST_BUDGET, burst=DEFAULT_REQUEST_BUDGET * 2 // 3)
    assert isinstance(planetscale, PlanetScaleClient)
    return WatchShare(max(1, int(limiter.requests * share)), limiter.per, people_first=planetscale.people_first)


def build_watcher(deps: Dependencies, client: WebClient, every: float) -> Watcher:
    # On the store's clock, the database's: what the watch weighs (the bot's sends, its requests) is dated there.
    watch = Watch(deps.changes.planetscale, deps.store, lambda: deps.access.rules, deps.stale_factor,
                  watch_share(deps.changes.planetscale, deps.watch_share), clock=lambda: deps.store.clock(),
                  progress=WatchProgress(deps.store))
    return Watcher(watch, deps.store, partial(post_notice, deps, client), every, partial(post_skipped, deps, client))
