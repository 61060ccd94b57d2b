"""A creation the bot closed as not applied whose POST PlanetScale carried out later: its answer was lost (a 504,
a crash) and the list read to settle it did not show the policy yet. The watch finds the policy when it appears:
it is the bot's own, recorded applied (and told, by the sweep), not posted as made outside the bot."""

from __future__ import annotations

from dataclasses import replace

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
# How long after its POST was sent a policy PlanetScale says it made may still be that POST's: a later one of the
# same name is someone's own.
LANDED_WITHIN_SECONDS = 900.0
LANDED_LATE = ("PlanetScale made the policy after the bot had closed its creation as not applied (the POST's answer "
               "was lost, and the policies read after it did not show it yet)")


def landed_late(store: WatchStore, db: DatabaseRef, policy: BackupPolicy) -> ChangeRequest | None:
    """The creation closed as not applied whose POST made `policy`, moved failed → applied (untold, so that the
    sweep tells its requester); None when no such creation of the bot's can have made it."""
    for request in store.policy_requests(db.organization, db.database, "", [RequestState.FAILED]):
        if request.kind is not ChangeKind.CREATE or not (request.detail or "").endswith(NOT_SHOWN) \
                or request.changes.get("name") != policy.name or request.changes.get("target") != policy.target:
            continue
        known = DatabaseFacts.of(request.facts)
        if known is not None and any(i == policy.id for i, _, _ in known.policies):
            continue  # listed when it was judged: not made by it
        try:  # when its POST was sent, and when PlanetScale says it made the policy: unknown, not adopted
            at = max(parse_time(e.at).timestamp() for e in store.events_of_request(request.id)
                     if e.action == SENDING)
            made = parse_time(policy.created_at).timestamp()
        except ValueError:
            continue
        if not at - CLOCK_MARGIN_SECONDS <= made <= at + LANDED_WITHIN_SECONDS:
            continue
        after = policy.model_dump()
        record = replace(request_event("applied", request, request.decided_by or request.requester,
                                       detail=LANDED_LATE), policy_id=policy.id, policy_name=policy.name, after=after)
        moved = store.transition(request.id, [RequestState.FAILED], RequestState.APPLIED, record=record, told=False,
                                 policy_id=policy.id, policy_name=policy.name, after=after, detail=LANDED_LATE)
        if moved is not None:
            return moved
    return None
