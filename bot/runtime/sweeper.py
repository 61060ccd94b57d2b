"""Expires pending requests, reminds their approvers and finishes those a crash left behind, on a timer; safe
on several instances, since each step is a conditional update and each reminder is claimed once."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.changes import ChangePath, Outcome, OutcomeKind
from bot.runtime.repeating import Repeating

# How long requests from Slack are remembered, so that a replay or a retry of one does nothing: Bolt accepts a
# request for 5 minutes after its timestamp, and Slack's retries come within minutes.
DELIVERY_MEMORY_SECONDS = 3600.0


class Sweeper:
    def __init__(self, changes: ChangePath, on_step: Callable[[Outcome], None], every: float = 30.0,
                 forget_deliveries: Callable[[float], None] | None = None):
        self.changes = changes
        self.on_step = on_step
        self.every = every
        self.forget_deliveries = forget_deliveries
        self._timer = Repeating("sweep", self.sweep, every)

    def sweep(self) -> None:
        if self.forget_deliveries is not None:
            self.forget_deliveries(self.changes.clock() - DELIVERY_MEMORY_SECONDS)
        for untold in self.changes.untold():  # ends Slack refused before: told until it takes them
            self.on_step(untold)
        for request in self.changes.expire_due():
            self.on_step(Outcome(OutcomeKind.EXPIRED, "Expired before enough approvals; nothing was sent.",
                                 request))
        for outcome in self.changes.recover():
            if outcome.request is not None:
                self.on_step(outcome)
        for reminder in self.changes.due_reminders():
            self.on_step(reminder)

    def start(self) -> Sweeper:
        self._timer.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._timer.stop(timeout=timeout)
