"""Expires pending requests, reminds their approvers, finishes those a crash left behind and posts those a stopped
run left unposted, on a timer; safe on several instances, since each step is a conditional update and each
reminder and post is claimed once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.adapters.store.inbox import Inbox
from bot.adapters.store.row_waits import brief_row_waits
from bot.domain.changes import ChangePath, Outcome, OutcomeKind
from bot.runtime.repeating import Repeating, said

log = logging.getLogger(__name__)

# How long requests from Slack are remembered, so that a replay or a retry of one does nothing: Bolt accepts a
# request for 5 minutes after its timestamp, and Slack's retries come within minutes.
DELIVERY_MEMORY_SECONDS = 3600.0


class Sweeper:
    def __init__(self, changes: ChangePath, on_step: Callable[[Outcome], None], every: float = 30.0,
                 forget_deliveries: Callable[[float], None] | None = None,
                 late_posts: Callable[[], None] | None = None, batches: Callable[[], None] | None = None,
                 inbox: InboxKeeper | None = None):
        self.changes = changes
        self.late_posts = late_posts  # the open requests whose run claimed their post and stopped before making it
        self.batches = batches  # the bulk changes' own steps, after the requests'
        self.on_step = on_step
        self.every = every
        self.forget_deliveries = forget_deliveries
        self.inbox = inbox
        self._timer = Repeating("sweep", self.sweep, every)
        self._failing: dict[str, str] = {}  # each failing step's last error, while it fails

    def sweep(self) -> None:
        """Each step in turn; one that fails (the database refusing one of its writes) keeps no later one from its
        turn, and the pass says it failed once all have had theirs. A row another session holds is waited for
        briefly: what needs it is left for the next pass."""
        with brief_row_waits():
            self._sweep()

    def _sweep(self) -> None:
        failed: Exception | None = None
        for step in (self._forget, self._untold, self._expire, self._settle, self._remind, self.late_posts,
                     self.batches):
            if step is None:
                continue
            name = step_name(step)
            try:
                step()
            except Exception as exc:
                # A database down for an hour fails each step alike every pass: its traceback once, then a line.
                error = said(exc)
                if self._failing.get(name) == error:
                    log.error("the sweep's step %s failed again (%s); its other steps carry on", name, error)
                else:
                    log.exception("the sweep's step %s failed; its other steps carry on", name)
                self._failing[name] = error
                failed = failed or exc
            else:
                self._failing.pop(name, None)
        if failed is not None:
            raise failed

    def _forget(self) -> None:
        if self.forget_deliveries is not None:
            self.forget_deliveries(self.changes.clock() - DELIVERY_MEMORY_SECONDS)

    def _untold(self) -> None:
        for untold in self.changes.untold():  # ends Slack refused before: told until it takes them
            self._tell(untold)

    def _expire(self) -> None:
        for request in self.changes.expire_due():
            self._tell(Outcome(OutcomeKind.EXPIRED, "Expired; nothing was sent.", request))

    def _settle(self) -> None:
        for outcome in [*self.changes.recover(), *self.changes.judge_again()]:
            if outcome.request is not None:
                self._tell(outcome)

    def _remind(self) -> None:
        for reminder in self.changes.due_reminders():
            self._tell(reminder)

    def _tell(self, outcome: Outcome) -> None:
        """One step told; one that cannot be (a request holding what no message can show) stops no other: it
        stays untold, for the next sweep."""
        try:
            self.on_step(outcome)
        except Exception:
            log.exception("the sweep could not tell what became of request %s; it carries on",
                          outcome.request.id if outcome.request is not None else None)

    def start(self) -> Sweeper:
        self._timer.start()
        if self.inbox is not None:
            self.inbox.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stops the sweep; the inbox's leases are renewed still, while the work in flight finishes."""
        self._timer.stop(timeout=timeout)
        if self.inbox is not None:
            self.inbox.taking_over = False

    def stop_inbox(self, timeout: float = 10) -> None:
        if self.inbox is not None:
            self.inbox.stop(timeout=timeout)


# The inbox (bot/adapters/store/inbox.py): leases renewed every INBOX_EVERY seconds and lasting LEASE_SECONDS, so
# a stopped instance's work is taken over within seconds; work older than INBOX_GIVE_UP is closed, since Bolt
# accepts a signed request for 5 minutes and Slack a response_url for 30.
INBOX_EVERY = 2.0
INBOX_GIVE_UP = 1800.0


class InboxKeeper:
    """Keeps this instance's inbox rows held, and redoes, once, the work of instances that stopped."""

    def __init__(self, inbox: Inbox, redo: Callable[[str, frozenset[str]], int], every: float = INBOX_EVERY,
                 unsigned: bool = True, lost: Callable[[str], None] | None = None):
        self.inbox = inbox
        self.redo = redo
        self.lost = lost  # tells the person who asked for work given up, from its request (bot/runtime/lost_work.py)
        self.unsigned = unsigned  # whether `redo` redoes Socket Mode's unsigned requests (bot/runtime/app.py)
        self.taking_over = True  # off while this instance shuts down
        self._timer = Repeating("inbox", self.step, every)
        # The leases on a thread of their own: a step held by a slow Slack (telling work given up) or by redoing
        # work taken over would let them lapse, and another instance take over the work under way here.
        self._leases = Repeating("inbox leases", self.inbox.renew, every)

    def step(self) -> None:
        self.inbox.renew()
        if not self.taking_over:
            return
        given_up: dict[str, str] = {}
        for key, holder, body in self.inbox.close_older(INBOX_GIVE_UP):
            log.warning("inbox: work %s (last held by %s) closed undone after %.0f min", key[:16], holder,
                        INBOX_GIVE_UP / 60)
            if body is not None:
                given_up.setdefault(key.rsplit(":", 1)[0], body)
        for digest, body in given_up.items():  # once a request, however many pieces of work it lost
            if self.lost is not None:
                try:
                    self.lost(body)
                except Exception:
                    log.exception("inbox: the person who asked for request %s could not be told", digest[:16])
        taken: dict[str, tuple[str, set[str]]] = {}
        for key, body in self.inbox.take_over(unsigned=self.unsigned):
            taken.setdefault(key.rsplit(":", 1)[0], (body, set()))[1].add(key)
        for digest, (body, keys) in taken.items():
            log.warning("handed_again: request %s's work, left by a stopped instance, redone here", digest[:16])
            try:
                status = self.redo(body, frozenset(keys))
            except Exception:
                log.exception("inbox: request %s could not be redone", digest[:16])
                continue
            if status != 200:
                log.warning("inbox: request %s redone, answered %d (its signature too old?)", digest[:16], status)

    def start(self) -> InboxKeeper:
        self._leases.start()
        self._timer.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._timer.stop(timeout=timeout)
        self._leases.stop(timeout=timeout)


def step_name(step: Callable[[], object]) -> str:
    """A step's function's name, a partial's too (not its arguments' reprs)."""
    return getattr(step, "__name__", None) or getattr(getattr(step, "func", None), "__name__", None) or \
        type(step).__name__
