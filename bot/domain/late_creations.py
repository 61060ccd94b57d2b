"""A creation, deletion or change the bot closed as not applied whose POST, DELETE or PATCH PlanetScale carried out
later: its answer was lost (an error, a crash) and the read to settle it did not show it yet. The watch finds the
policy come, gone or changed: the bot's own doing, recorded applied (and told, by the sweep), not posted as done
outside the bot."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from bot.domain.audit import AuditEvent
from bot.domain.backups import CLOCK_MARGIN_SECONDS, parse_time
from bot.domain.change_requests import ChangeKind, ChangeRequest, RequestState
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts
from bot.domain.lifecycle import SENDING
from bot.domain.outcomes import request_event
from bot.domain.policy import BackupPolicy
from bot.domain.watch_state import WatchStore

# The end of a creation (or deletion) whose outcome was unknown when PlanetScale did not show it: only such a
# creation may have made a policy later; one PlanetScale refused made none.
NOT_SHOWN = "PlanetScale does not show the change, so it was not applied."
NOT_HELD = "PlanetScale does not hold the change, so it was not applied."  # a PATCH's
# A PATCH's, when PlanetScale wrote the policy after the read it was sent on: its own write may have landed and
# been overwritten since. Its outcome is as unknown as NOT_HELD's.
HELD_UNTOLD = ("PlanetScale does not hold the change now, but wrote the policy after the bot read it to send it: "
               "the bot cannot tell whether it was applied and changed again since. Check the policy.")
UNKNOWN_ENDS = (NOT_HELD, HELD_UNTOLD)
# How long after its POST was sent a policy PlanetScale says it made may still be that POST's: a later one of the
# same name is someone's own.
LANDED_WITHIN_SECONDS = 900.0
LANDED_LATE = ("PlanetScale {did} after the bot had closed the {what} as not applied (its answer was lost, and the "
               "policies read after it did not show it yet)")


# The note of a send whose worker outlived its lease, answered after the sweep had closed it as failed.
ANSWERED_AFTER_CLOSING = ("PlanetScale carried out its send after the bot had closed it as failed (the worker "
                          "sending it outlived its lease)")


def landed_after_closing(request: ChangeRequest) -> bool:
    """Whether the request is applied because its write was found carried out after the bot had closed it as not
    applied (by the watch, or by the answer of a worker that outlived its lease): its end was told so before."""
    head, _, rest = LANDED_LATE.partition("{did}")
    detail = request.detail or ""
    watched = detail.startswith(head) and rest.partition("{what}")[0] in detail
    return request.state is RequestState.APPLIED and (detail.startswith(ANSWERED_AFTER_CLOSING) or watched)


def landed_late(store: WatchStore, db: DatabaseRef, policy: BackupPolicy) -> ChangeRequest | None:
    """The creation closed as not applied whose POST made `policy`, moved failed → applied (untold, so that the
    sweep tells its requester); None when no such creation of the bot's can have made it."""
    for request in store.policy_requests(db.organization, db.database, "", [RequestState.FAILED]):
        # Every value it sent, not only the name: one made by hand under that name with other settings is not its.
        if request.kind is not ChangeKind.CREATE or not (request.detail or "").endswith(NOT_SHOWN) \
                or any(policy.field_value(f) != v for f, v in request.changes.items()):
            continue
        known = DatabaseFacts.of(request.facts)
        if known is not None and any(i == policy.id for i, _, _ in known.policies):
            continue  # listed when it was judged: not made by it
        try:  # when its POST was sent, and when PlanetScale says it made the policy: unknown, not adopted
            at = _sent_at(store, request)
            made = parse_time(policy.created_at).timestamp()
        except ValueError:
            continue
        if not at - CLOCK_MARGIN_SECONDS <= made <= at + LANDED_WITHIN_SECONDS:
            continue
        after = policy.model_dump()
        moved = _applied(store, request, LANDED_LATE.format(did="made the policy", what="creation"), policy.id,
                         policy.name, after)
        if moved is not None:
            return moved
    return None


def patched_late(store: WatchStore, db: DatabaseRef, policy: BackupPolicy) -> ChangeRequest | None:
    """The change of `policy` closed as not applied whose PATCH PlanetScale carried out later: every value it sent
    held now, the policy last updated (as PlanetScale says) at most LANDED_WITHIN_SECONDS after it was sent; moved
    failed → applied, untold. None when no such change of the bot's can have set what the policy holds."""
    for request in store.policy_requests(db.organization, db.database, policy.id, [RequestState.FAILED]):
        if request.kind is not ChangeKind.UPDATE or not (request.detail or "").endswith(UNKNOWN_ENDS) \
                or any(policy.field_value(f) != v for f, v in request.changes.items()):
            continue
        try:
            at = _sent_at(store, request)
            updated = parse_time(policy.updated_at).timestamp()
        except ValueError:
            continue
        if at - CLOCK_MARGIN_SECONDS <= updated <= at + LANDED_WITHIN_SECONDS:
            moved = _applied(store, request, LANDED_LATE.format(did="carried out the change", what="change"),
                             policy.id, policy.name, policy.model_dump())
            if moved is not None:
                return moved
    return None


def deleted_late(store: WatchStore, db: DatabaseRef, policy_id: str, now: float) -> ChangeRequest | None:
    """The deletion of `policy_id` closed as not applied, sent at most LANDED_WITHIN_SECONDS before `now` (when the
    watch finds the policy gone; PlanetScale keeps no time of a deletion), moved failed → applied, untold; None
    when no such deletion of the bot's can have removed it."""
    for request in store.policy_requests(db.organization, db.database, policy_id, [RequestState.FAILED]):
        if request.kind is not ChangeKind.DELETE or not (request.detail or "").endswith(NOT_SHOWN):
            continue
        try:
            at = _sent_at(store, request)
        except ValueError:
            continue
        if now - at <= LANDED_WITHIN_SECONDS:
            moved = _applied(store, request, LANDED_LATE.format(did="deleted the policy", what="deletion"),
                             request.policy_id, request.policy_name, None)
            if moved is not None:
                return moved
    return None


class _Requests(Protocol):
    def policy_requests(self, organization: str, database: str, policy_id: str | None,
                        states: list[RequestState], updated_since: float | None = None) -> list[ChangeRequest]: ...

    def events_of_request(self, request_id: str) -> list[AuditEvent]: ...


def still_landing(store: _Requests, db: DatabaseRef, facts: DatabaseFacts, now: float,
                  judged: str = "") -> DatabaseFacts:
    """`facts` with the creations, deletions, moves and renames of the bot's closed as not applied (outcome
    unknown) that were sent at most LANDED_WITHIN_SECONDS before `now`: PlanetScale may still carry them out (the
    watch then takes them as the bot's), so a floor of policies counts those policies as gone, or on the target
    the move sent, and a new name counts the names they may still give as taken; but for `judged`'s own (the
    policy being judged)."""
    landing: list[tuple[str, str]] = []
    making: list[tuple[str, str]] = []
    for request in store.policy_requests(db.organization, db.database, None, [RequestState.FAILED],
                                         updated_since=now - LANDED_WITHIN_SECONDS):
        detail, changes = request.detail or "", request.changes
        if request.kind is not ChangeKind.CREATE and request.policy_id == judged:
            continue
        unknown = detail.endswith(UNKNOWN_ENDS if request.kind is ChangeKind.UPDATE else NOT_SHOWN)
        if not unknown or (request.kind is ChangeKind.UPDATE and not {"name", "target"} & set(changes)):
            continue
        try:
            if now - _sent_at(store, request) > LANDED_WITHIN_SECONDS:
                continue
        except ValueError:
            pass  # when it was sent cannot be read: it may still land
        target = str(changes.get("target", request.before.get("target", "")))
        if request.kind is ChangeKind.DELETE:
            landing.append((request.policy_id, ""))
        elif request.kind is ChangeKind.UPDATE and "target" in changes:
            landing.append((request.policy_id, target))
        if "name" in changes:  # a creation's, or a rename's
            making.append((str(changes["name"]), target))
    return replace(facts, landing=tuple(landing), making=tuple(making)) if landing or making else facts


def not_held(store: _Requests, request: ChangeRequest, policy: BackupPolicy) -> str:
    """Why a PATCH whose outcome was unknown is closed as not applied: PlanetScale does not hold it, and, when its
    `updated_at` moved since the read the latest PATCH was sent on, that the bot cannot tell whether it landed."""
    sent = [e for e in store.events_of_request(request.id) if e.action == SENDING]
    read = (sent[-1].before or {}).get("updated_at") if sent else None
    return HELD_UNTOLD if read and policy.updated_at and policy.updated_at != read else NOT_HELD


def _sent_at(store: _Requests, request: ChangeRequest) -> float:
    """When the request's latest write was sent; ValueError when the trail holds none, or no time that reads."""
    return max(parse_time(e.at).timestamp() for e in store.events_of_request(request.id) if e.action == SENDING)


def _applied(store: WatchStore, request: ChangeRequest, note: str, policy_id: str, name: str,
             after: dict[str, Any] | None) -> ChangeRequest | None:
    record = replace(request_event("applied", request, request.decided_by or request.requester, detail=note),
                     policy_id=policy_id, policy_name=name, after=after)
    return store.transition(request.id, [RequestState.FAILED], RequestState.APPLIED, record=record, told=False,
                            detail=note, policy_id=policy_id, policy_name=name, after=after)
