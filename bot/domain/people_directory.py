"""Whether Slack still has a person active (not deactivated), asked one person at a time and kept a while; a
failed look-up is a `DirectoryError`, never a "no". A user group may still list a deactivated member, and a
session left open may still click: the judge counts neither as an approver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.domain.group_directory import DirectoryError


class PersonUnknown(DirectoryError):
    """Slack refused to tell of this person (not of the method): no look-up of another waits behind it."""


KEPT_AT_MOST = 10_000  # people remembered at once; past it the oldest answers are asked again
# A failed look-up answers every look-up this long after it: Slack refused the method (rate limited, down), not
# the person, and each look-up waits out its own tries; so one judgement waits once, not once for each person.
FAILURE_KEPT = 10.0


class PeopleDirectory:
    """Each person's activity as Slack answers it (`is_active`, which raises DirectoryError when it cannot tell),
    kept for `ttl` seconds; an approval is never counted on an answer older than its click (`looked_up_again`)
    or than a few seconds when it applies (`looked_up_within`), as the groups' memberships are not."""

    def __init__(self, is_active: Callable[[str], bool], ttl: float = 60.0,
                 clock: Callable[[], float] | None = None):
        self._is_active = is_active
        self._ttl = ttl
        self._clock = clock or time.monotonic
        self._known: dict[str, tuple[bool, float]] = {}
        self._not_before = float("-inf")
        self._failed: tuple[DirectoryError, float] | None = None
        self._lock = threading.Lock()

    def looked_up_again(self) -> None:
        """No answer given before now is used: for a click that lets a write through on approvals."""
        self._not_before = self._clock()

    def looked_up_within(self, seconds: float) -> None:
        """No answer older than `seconds` is used: for a change judged again when it applies."""
        self._not_before = max(self._not_before, self._clock() - seconds)

    def active(self, user: str, fresh: bool = True) -> bool:
        """Whether Slack has `user` active; `fresh=False` for someone who only might approve (whether anyone is
        left to): an answer kept `ttl` serves then, however recent the click, as it lets no write through."""
        now = self._clock()
        known = self._known.get(user)
        if known is not None and now - known[1] <= self._ttl and (known[1] >= self._not_before or not fresh):
            return known[0]
        failed = self._failed
        if failed is not None and now - failed[1] <= FAILURE_KEPT:
            raise DirectoryError(str(failed[0]))
        try:
            found = self._is_active(user)
        except PersonUnknown:
            raise
        except DirectoryError as exc:
            self._failed = (exc, self._clock())
            raise
        self._keep(user, found, now)
        return found

    def delivered(self, user: str) -> None:
        """Slack just delivered `user`'s command, click or form, signed: Slack delivers none of a deactivated
        member's, so it answers for them as users.info would now. A click that lets a write through, or a change
        judged again as it applies later, still asks afresh (`looked_up_again`, `looked_up_within`)."""
        self._keep(user, True, self._clock())

    def _keep(self, user: str, found: bool, at: float) -> None:
        with self._lock:
            if len(self._known) >= KEPT_AT_MOST:
                self._known.clear()
            self._known[user] = (found, at)

