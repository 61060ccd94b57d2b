"""Reminders on one thread: a function called once its delay has passed, unless cancelled first."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# How long the reminders' thread waits, once nothing is due, for another reminder before it ends.
IDLE_SECONDS = 1.0


class Reminders:
    """Calls each function handed to `at` once its delay has passed, on one thread, unless cancelled first. A
    cancelled one is let go at once (what it holds, a person's `respond` and Slack's pool, is not kept for its
    delay), and the thread runs only while something is due and IDLE_SECONDS after, until `stop`: a steady
    stream of work sets and cancels its reminders without a thread started, or woken, for each."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int]] = []
        self._calls: dict[int, Callable[[], None]] = {}
        self._changed = threading.Condition()
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False
        # When the thread's wait ends: only a reminder due before then wakes it (-inf: it looks before it waits).
        self._wakes_at = -math.inf

    def at(self, delay: float, fn: Callable[[], None]) -> int:
        with self._changed:
            key = next(self._keys)
            if self._stopped:
                return key
            when = time.monotonic() + delay
            heapq.heappush(self._due, (when, key))
            self._calls[key] = fn
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="reminders", daemon=True)
                self._thread.start()
            elif when < self._wakes_at:
                self._changed.notify()
        return key

    def cancel(self, key: int) -> None:
        with self._changed:
            self._calls.pop(key, None)
            if not self._calls:
                self._due.clear()
                if self._wakes_at > time.monotonic() + IDLE_SECONDS:  # it ends after IDLE_SECONDS, not then
                    self._changed.notify()

    def stop(self, timeout: float | None = None) -> None:
        """No reminder is called from now on; the thread ends (a reminder being called finishes first)."""
        with self._changed:
            self._stopped = True
            self._calls.clear()
            self._due.clear()
            self._changed.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while self._call_next():
            pass

    def _call_next(self) -> bool:
        # A function of its own, so that the reminder called is let go before the wait for the next one.
        fn = self._next()
        if fn is None:
            return False
        try:
            fn()
        except Exception:
            log.exception("a reminder failed")
        return True

    def _next(self) -> Callable[[], None] | None:
        """The next reminder due, once it is; None once nothing has been due for IDLE_SECONDS (the thread ends) or
        on `stop`."""
        with self._changed:
            idle_since = None
            while not self._stopped:
                now = time.monotonic()
                if not self._calls:
                    self._due.clear()
                    idle_since = now if idle_since is None else idle_since
                    if now - idle_since >= IDLE_SECONDS:
                        break
                    self._wait(idle_since + IDLE_SECONDS - now)
                    continue
                idle_since = None
                when, key = self._due[0]
                if when > now:
                    self._wait(when - now)
                    continue
                heapq.heappop(self._due)
                if (fn := self._calls.pop(key, None)) is not None:
                    return fn
            self._due.clear()
            self._thread = None
            return None

    def _wait(self, seconds: float) -> None:
        self._wakes_at = time.monotonic() + seconds
        try:
            self._changed.wait(seconds)
        finally:
            self._wakes_at = -math.inf
