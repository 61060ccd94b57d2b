"""PlanetScale's budget kept by this process (a token bucket) and the words and numbers of a wait:
`Retry-After` read as RFC 9110 writes it, and a wait said in words."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bot.domain.ports import RateLimited


class RateLimiter:
    """A token bucket shared by every thread of this process, so that the bot stays within PlanetScale's
    budget (600 requests a minute) and waits instead of collecting 429s.

    PlanetScale does not say how it counts; to stay under the budget in any window of `per` seconds, even a
    sliding one, a burst of `burst` requests (a tenth of the budget) may go at once and the rest of the budget
    is spread over the window, less a margin of 2 % for requests that the network delays unevenly:
    burst + rate × per stays below the budget.
    """

    def __init__(self, requests: int, per: float, *, max_wait: float = 20.0, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None):
        if requests < 1 or per <= 0:
            raise ValueError("a rate needs at least one request per period")
        self.requests, self.per = requests, per
        # A bound on one wait, so that the longest call (worst_case_seconds, which the leases are sized on) is
        # bounded too: past it the call fails as rate limited, without being sent.
        self.max_wait = max_wait
        self.burst = max(1, requests // 10)
        self.rate = max(requests - self.burst - max(1, requests // 50), 1) / per  # tokens a second
        self._clock = clock or _monotonic
        self._sleep = sleep or _default_sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = self._clock()
        self._waiting = 0  # requests holding a place in the line, waiting for their turn

    def __repr__(self) -> str:
        return f"RateLimiter({self.requests} per {self.per:g} s)"

    def acquire(self) -> float:
        """Take one token, waiting for it if the bucket is empty; the time waited, in seconds. RateLimited,
        without a token taken, when the wait would be longer than max_wait."""
        with self._lock:  # first come, first served: a waiting thread holds its place in the line
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = (1 - self._tokens) / self.rate if self._tokens < 1 else 0.0
            if wait > self.max_wait:
                raise RateLimited(too_long(self.requests, self.per, wait))
            self._tokens -= 1
        self._wait(wait)
        return wait

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._waiting += 1
        try:
            self._sleep(seconds)
        finally:
            with self._lock:
                self._waiting -= 1

    def backlog(self) -> float:
        """How long a request asked now would wait for its turn, in seconds (no token is taken)."""
        with self._lock:
            tokens = min(float(self.burst), self._tokens + (self._clock() - self._updated) * self.rate)
            return max(0.0, (1 - tokens) / self.rate)

    def busy(self) -> bool:
        """Whether people's requests need the budget now: some wait for their turn, or less than half the burst
        is left. The watch holds back meanwhile, so that they come first."""
        with self._lock:
            if self._waiting:
                return True
            tokens = min(float(self.burst), self._tokens + (self._clock() - self._updated) * self.rate)
            return tokens < self.burst / 2


def too_long(requests: int, per: float, wait: float) -> str:
    return (f"This bot's PlanetScale budget ({requests} requests per {per:g} s) is used up for the next "
            f"{describe_wait(wait)}; try again then.")


MOST_REQUESTS = 1_000_000


def parse_rate(text: str) -> RateLimiter:
    """`600/min` (also `/s`, `/h`): a RateLimiter; ValueError naming the form when malformed."""
    count, _, unit = text.replace(" ", "").partition("/")
    seconds = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
    if not (count.isascii() and count.isdigit()) or unit not in seconds:
        raise ValueError("write the number of requests and the period, e.g. 600/min, 10/s or 36000/h")
    # Far beyond any API's budget; a count past a float's range would break the bucket's arithmetic.
    digits = count.lstrip("0")
    if len(digits) > len(str(MOST_REQUESTS)) or not 1 <= int(digits or "0") <= MOST_REQUESTS:
        raise ValueError(f"write from 1 to {MOST_REQUESTS} requests per period, e.g. 600/min (PlanetScale's)")
    return RateLimiter(int(count), seconds[unit])


DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """How long `Retry-After` asks to wait, in seconds and not negative: delay-seconds or an HTTP-date (RFC 9110,
    10.2.3). None when it is absent or neither form (`inf`, `1e400`, `-5`, junk): then the client's own backoff
    applies. So any value ends in a retry or a clear failure, never in an exception from arithmetic."""
    text = (value or "").strip()
    if not text:
        return None
    if DELAY_SECONDS.fullmatch(text):
        return float(text)  # hundreds of digits make inf: longer than the longest wait, so refused as such
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def describe_wait(seconds: float) -> str:
    if seconds <= 3600:
        whole = max(1, math.ceil(seconds))
        return f"{whole} second{'s' if whole != 1 else ''}"
    if seconds <= 24 * 3600:
        return f"{math.ceil(seconds / 3600)} hours"
    return "more than a day"


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


def _monotonic() -> float:
    return time.monotonic()
