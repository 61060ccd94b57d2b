"""Slack's user groups and their members, as the rules name them, cached; a failed listing is a
`DirectoryError`, never a "no".
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.access_rules import GROUP_ID, describe_duration
from bot.domain.judge_access import Unchecked, named_as_needed
from bot.domain.ports import note_wait

log = logging.getLogger("bot.domain.access")


class DirectoryError(Exception):
    """Slack or PlanetScale could not tell who someone is; access is refused (fail closed)."""


class GroupUnreadable(DirectoryError):
    """Slack listed the groups, one of them (this one) in a shape the bot cannot read: the others are known."""


# The mark of a group listed in a shape the bot cannot read, beside the ID and handle it gave (when text).
UNREADABLE_GROUP = "unreadable"
ANY_ID, ANY_HANDLE = "\0any ID", "@\0any handle"  # no rule can name these: a principal holds no NUL


@dataclass
class _Cached:
    value: _Memberships
    at: float


@dataclass(frozen=True)
class _Memberships:
    """One listing of the user groups, never changed once made: shared by every reader, not copied for each."""

    by_id: dict[str, tuple[str, frozenset[str]]]  # group ID: its handle, its members
    by_handle: dict[str, tuple[str, frozenset[str]]]  # `@handle`: the ID and members of the first group with it
    # `@handle` and ID alike: the members, as the rules name a group; why not, for a group listed unreadable.
    by_principal: dict[str, frozenset[str] | Unchecked]
    unreadable: frozenset[str] = frozenset()  # the IDs and `@handles` of groups listed in a shape not read


DEFAULT_GROUP_CACHE_MAX_AGE = 3600


class GroupDirectory:
    """Slack user groups by ID and handle, with their members; cached for `ttl` seconds. While Slack fails to
    list them, the last memberships read are used for at most `max_age` seconds: someone removed from a
    group must not keep its rights for as long as Slack stays unreadable."""

    def __init__(self, list_groups: Callable[[], list[dict[str, Any]]], ttl: float = 60.0,
                 clock: Callable[[], float] | None = None, max_age: float = DEFAULT_GROUP_CACHE_MAX_AGE):
        self._list_groups = list_groups
        self._ttl = ttl
        self._max_age = max_age
        self._clock = clock or time.monotonic
        self._cache: _Cached | None = None
        self._lock = threading.Lock()

    @property
    def fresh(self) -> bool:
        """Whether the groups are known without asking Slack: listed less than `ttl` seconds ago."""
        cache = self._cache
        return cache is not None and self._clock() - cache.at <= self._ttl

    def refresh(self) -> None:
        """Lists the groups again once they are half-way to stale (or never listed), so that `fresh` stays true in
        a process that otherwise seldom asks: for a thread of its own, never an ack. A failure is logged."""
        cache = self._cache
        if cache is not None and self._clock() - cache.at <= self._ttl / 2:
            return
        with self._lock:
            if self._cache is None or self._clock() - self._cache.at > self._ttl / 2:
                try:
                    self._list()
                except DirectoryError as exc:
                    log.warning("the user groups could not be listed ahead of time: %s", exc)

    def listed_again(self) -> None:
        """The groups listed now, unless listed since this call began (by another thread): for an approval, which
        lets a write through on a membership, so that a removal made within the cache's `ttl` counts. A failure
        keeps what `_list` keeps; with nothing listed yet, the look-ups that follow say why."""
        asked = self._clock()
        with self._turn():
            if self._cache is None or self._cache.at < asked:
                with contextlib.suppress(DirectoryError):
                    self._list()

    def listed_within(self, seconds: float) -> None:
        """The groups listed now, unless listed in the last `seconds` (a click's listing, made as it began): for
        the judge under the lease, which lets a write through on approvals whatever door brought it there. A
        failure keeps what `_list` keeps, as `listed_again`."""
        cache = self._cache  # listed lately: read without the lock, as `_groups` does
        if cache is not None and self._clock() - cache.at <= seconds:
            return
        with self._turn():
            if self._cache is None or self._clock() - self._cache.at > seconds:
                with contextlib.suppress(DirectoryError):
                    self._list()

    def _groups(self) -> _Memberships:
        cache = self._cache  # fresh: read without the lock (a help's ack asks four times)
        if cache is not None and self._clock() - cache.at <= self._ttl:
            return cache.value
        with self._turn():
            if self._cache is None or self._clock() - self._cache.at > self._ttl:
                return self._list()
            return self._cache.value

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """The lock, for one listing at a time. Waited for (another thread lists the groups, Slack's Retry-After
        included), the wait is told to the change path as the clients' own are (`wait_noted`): a policy read under
        a lease before it is judged again before a write leaves."""
        if not self._lock.acquire(blocking=False):
            started = time.monotonic()
            self._lock.acquire()
            note_wait(max(time.monotonic() - started, 1e-6))
        try:
            yield
        finally:
            self._lock.release()

    def _list(self) -> _Memberships:
        """Slack's groups listed now (under the lock), or the last listed while they may still be used."""
        try:
            groups = self._list_groups()
        except Exception as exc:
            if self._cache is None:
                raise DirectoryError(f"Slack did not list the user groups ({exc})") from None
            age = self._clock() - self._cache.at
            if age > self._max_age:
                read_at = datetime.now(UTC) - timedelta(seconds=age)
                raise DirectoryError(
                    f"Slack's user groups could not be read since {read_at:%Y-%m-%d %H:%M} UTC ({exc}), "
                    f"and memberships older than {describe_duration(self._max_age)} are not trusted"
                ) from None
            # A Slack hiccup: the last known membership is still the best, for a while.
            log.warning("usergroups.list failed (%s); using memberships from %.0f s ago", exc, age)
            return self._cache.value
        by_id: dict[str, tuple[str, frozenset[str]]] = {}
        by_handle: dict[str, tuple[str, frozenset[str]]] = {}
        unreadable: set[str] = set()
        for group in groups:
            if group.get(UNREADABLE_GROUP):
                given, handle = group.get("id"), group.get("handle")
                # One giving no readable ID (or handle) may be any group the rules name by ID (or handle).
                unreadable.add(given if isinstance(given, str) and given else ANY_ID)
                unreadable.add(f"@{handle}" if isinstance(handle, str) and handle else ANY_HANDLE)
                continue
            members = frozenset(group.get("users") or [])
            handle = group.get("handle", "")
            by_id[group["id"]] = (handle, members)
            by_handle.setdefault("@" + handle, (group["id"], members))
        unreadable -= {*by_id, *by_handle}  # a group of that ID or handle was read: it is the one the rules name
        by_principal: dict[str, frozenset[str] | Unchecked] = {
            **{k: Unchecked(unread_group(k)) for k in unreadable}, **{g: m for g, (_, m) in by_id.items()},
            **{h: m for h, (_, m) in by_handle.items()}}
        self._cache = _Cached(_Memberships(by_id, by_handle, by_principal, frozenset(unreadable)), self._clock())
        return self._cache.value

    def listed(self) -> Mapping[str, frozenset[str] | Unchecked]:
        """Every group's members by principal while the groups are fresh (no call to Slack), else nothing: the
        listing itself, shared, to read and not to change."""
        cache = self._cache
        return cache.value.by_principal if cache is not None and self._clock() - cache.at <= self._ttl else {}

    def members(self, principal: str) -> frozenset[str]:
        return _members(self._groups(), principal)

    def resolve(self, principal: str) -> str:
        """A group handle as its ID (which Slack can mention); anything else, or a handle whose listed ID is not of
        Slack's shape, as it is."""
        if not principal.startswith("@"):
            return principal
        try:
            groups = self._groups()
        except DirectoryError:
            return principal
        found = groups.by_handle.get(principal)
        # Only an ID of Slack's shape is mentioned: one listed with other characters would be markup in a message.
        return found[0] if found and GROUP_ID.fullmatch(found[0]) else principal

    def is_named_as_listed(self, user: str, principals: Iterable[str]) -> bool:
        """As `is_named`, on the listing made lately alone, never asking Slack nor waiting for a listing under way
        (an ack's answer): a DirectoryError once it is stale."""
        cache = self._cache
        listed = None if cache is None or self._clock() - cache.at > self._ttl else cache.value

        def members(principal: str) -> frozenset[str]:
            # Raised only where a group is needed: rules naming the user directly, or no group, need no listing.
            if listed is None:
                raise DirectoryError("Slack's user groups were not listed lately")
            return _members(listed, principal)

        return named_as_needed(user, principals, members)

    def is_named(self, user: str, principals: Iterable[str]) -> bool:
        """judge_access.is_named on the groups Slack lists now, each looked up only when it is needed; a
        DirectoryError when one that is cannot be listed."""
        return named_as_needed(user, principals, self.members)


def _members(groups: _Memberships, principal: str) -> frozenset[str]:
    found = groups.by_handle.get(principal) if principal.startswith("@") else groups.by_id.get(principal)
    if found is None and {principal, ANY_HANDLE if principal.startswith("@") else ANY_ID} & groups.unreadable:
        raise GroupUnreadable(unread_group(principal))
    return found[1] if found else frozenset()


def unread_group(principal: str) -> str:
    """Why a group's members are not known, for one Slack listed in a shape the bot cannot read."""
    return (f"Slack's usergroups.list gave the user group {principal} in a shape the bot cannot read; try again, and "
            "ask a Slack admin to check that group if it persists")
