"""The pending requests a person can act on, and the reminders due, read a page at a time however many wait.

The store reads the pending requests by others in one query, each with what access is judged on (organization,
database, channel, targets); the rules judge each such group once, and only the requests shown are read whole.
A request is listed for someone who may approve it under its own channel rule (and has not yet), or who asked it
(to cancel it).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.access import AccessControl
from bot.domain.access_rules import reminder_at
from bot.domain.change_requests import ChangeRequest, PendingGroup
from bot.domain.ports import ChangeStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingPage:
    """The oldest requests waiting for this person's approval and the oldest of their own, with how many of each
    wait in all."""

    waiting: list[ChangeRequest]
    waiting_total: int
    own: list[ChangeRequest]
    own_total: int

    @property
    def total(self) -> int:
        return self.waiting_total + self.own_total

    def oldest(self, count: int) -> list[ChangeRequest]:
        """Both lists as one, the oldest first: the first `count` of all, when each holds `count`."""
        return sorted(self.waiting + self.own, key=lambda r: r.created_at)[:count]


def pending_for(store: ChangeStore, access: AccessControl, user: str, now: float, limit: int) -> PendingPage:
    """The requests `user` can approve or cancel, at most `limit` of each, judged as a click on their buttons
    would be."""
    judged: dict[PendingGroup, bool] = {}
    allowed: list[tuple[float, str]] = []
    for group, request_id, created in store.pending_waiting(user, now):
        may = judged.get(group)
        if may is None:
            may = access.may_approve(user, group.organization, group.database, group.targets, group.channel)
            judged[group] = may
        if may:
            allowed.append((created, request_id))
    shown = [request_id for _, request_id in heapq.nsmallest(limit, allowed)]
    waiting = store.pending_page(user, now, shown, limit) if shown else []
    waiting_total = len(allowed)
    own_total = store.own_pending(user, now)
    own = store.pending_page(user, now, None, limit) if own_total else []
    return PendingPage(waiting, waiting_total, own, own_total)


def reminder_terms(moments: Sequence[str]) -> list[tuple[str, float, float]]:
    """Each reminder moment as (its notice, its share of a request's life, seconds before that): every moment is
    `created + (expires - created) × share - seconds`, so the store can find the requests where one is due."""
    terms = []
    for moment in moments:
        seconds = -reminder_at(moment, 0.0, 0.0)
        terms.append((f"remind:{moment}", reminder_at(moment, 0.0, 1.0) + seconds, seconds))
    return terms


def reminders_due(store: ChangeStore, moments: Sequence[str], now: float) -> list[tuple[ChangeRequest, list[str]]]:
    """Pending requests with a reminder moment passed whose notice no one has sent, with those moments."""
    due = []
    for request in store.reminders_due(reminder_terms(moments), now):
        if not isinstance(request.created_at, int | float):  # text SQLite kept: no moment of its life is known
            log.warning("the sweep reminds no approver of change request %s: its creation time in the database is "
                        "no time", request.id)
            continue
        passed = [m for m in moments if request.created_at < reminder_at(m, request.created_at, request.expires_at)
                  <= now]
        if passed:
            due.append((request, passed))
    return due
