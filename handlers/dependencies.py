"""What the listeners need, built by the runtime (bot/runtime/app.py) and handed to every `register()`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ParamSpec, Protocol

from bot.adapters.slack_http import SlackClient
from bot.adapters.store import Store
from bot.domain.access import AccessControl
from bot.domain.bulk import BulkPath
from bot.domain.changes import ChangePath
from bot.domain.reading import PolicyService
from bot.domain.watch_share import DEFAULT_WATCH_SHARE

P = ParamSpec("P")


class Background(Protocol):
    """Where work that must not hold up the ack runs, after it."""

    def run(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None: ...

    def run_answered(self, answer: Callable[[str], None], fn: Callable[P, object], /, *args: P.args,
                     **kwargs: P.kwargs) -> None: ...

    # As those, for work that uses a trigger_id (3 s): in the process that acks, never in a worker's line.
    def run_promptly(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None: ...

    def run_answered_promptly(self, answer: Callable[[str], None], fn: Callable[P, object], /, *args: P.args,
                              **kwargs: P.kwargs) -> None: ...

    # Whether the request being answered is dispatched again from the inbox (in a worker, or for an instance that
    # stopped): its ack reaches nobody, so a listener answers in the ack only from the request itself, never from
    # what this process happens to know (the user groups it listed, the rules it loaded).
    @property
    def redoing(self) -> bool: ...


class HomesDue:
    """People whose App Home must be published again: each once, however many steps asked for it while it
    waited, by one worker at a time (in a burst of clicks, a Home built for each step would cost more than the
    steps, and run into Slack's rate limit for views.publish)."""

    def __init__(self) -> None:
        self._due: dict[str, None] = {}  # a set that keeps the order people were asked for
        self._lock = threading.Lock()
        self._publishing = False

    def add(self, users: Iterable[str]) -> bool:
        """Mark them due; True when the caller must start publishing (nobody is at it)."""
        with self._lock:
            self._due.update(dict.fromkeys(users))
            if self._publishing or not self._due:
                return False
            self._publishing = True
            return True

    def discard(self, user: str) -> None:
        """No longer due: their Home is being published anyway."""
        with self._lock:
            self._due.pop(user, None)

    def take(self) -> str | None:
        """The next person due, or None (and publishing stops) when there is none."""
        with self._lock:
            if not self._due:
                self._publishing = False
                return None
            user = next(iter(self._due))
            del self._due[user]
            return user


HOME_RECENT_SECONDS = 30 * 60


class HomeViewers:
    """Who opened their App Home lately (`app_home_opened`), on this instance: only their Homes are published
    again when a request moves. Anyone else sees the truth when they next open it, which publishes it afresh.
    `tell`: passes each opening on to this instance's other processes (`serve`'s workers, where requests move);
    it never blocks."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: float = HOME_RECENT_SECONDS) -> None:
        self._opened: dict[str, float] = {}
        self._lock = threading.Lock()
        self.clock = clock
        self.window = window
        self.tell: Callable[[str], None] | None = None

    def opened(self, user: str) -> None:
        if self.tell is not None:
            self.tell(user)
        with self._lock:
            now = self.clock()
            self._opened[user] = now
            if len(self._opened) > 1000:  # forget those gone quiet, so that the map holds only the recent
                self._opened = {u: t for u, t in self._opened.items() if now - t < self.window}

    def recent_any(self) -> bool:
        """Whether anyone opened their Home lately: else nobody's needs publishing, nor their names looking up."""
        with self._lock:
            now = self.clock()
            return any(now - t < self.window for t in self._opened.values())

    def recent(self, users: Iterable[str]) -> list[str]:
        with self._lock:
            now = self.clock()
            return [u for u in users if u in self._opened and now - self._opened[u] < self.window]


@dataclass
class Dependencies:
    policies: PolicyService
    access: AccessControl
    store: Store
    changes: ChangePath
    # Work that must not hold up the ack (anything that calls PlanetScale) runs here, after it.
    background: Background
    audit_channel: str | None = None
    stale_factor: float = 2.0
    # The watch's share of PlanetScale's budget per minute; people's commands keep the rest.
    watch_share: float = DEFAULT_WATCH_SHARE
    # Slack's Web API and response URLs, over one pool of kept-alive connections.
    slack: SlackClient | None = None
    homes_due: HomesDue = field(default_factory=HomesDue)
    home_viewers: HomeViewers = field(default_factory=HomeViewers)
    # Bulk changes: a door onto the same change path.
    bulk: BulkPath = field(init=False)
    # What the runtime opened for these dependencies (Slack's pool, threads; the store is its opener's), closed
    # by `close`.
    closing: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bulk = BulkPath(self.changes, self.store)

    def close(self) -> None:
        """Closes what the runtime opened for them, the last opened first, once their work has finished."""
        while self.closing:
            self.closing.pop()()
