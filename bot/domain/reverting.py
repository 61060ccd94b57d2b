"""Reverting a change: its inverse asked by a person under the same rules as any change, whether the change went
through the bot (an applied request) or was made outside it (a change the watch saw). A creation's or a
deletion's revert is bot/domain/creating.py's `revert_lifecycle`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.domain.change_requests import OPEN_STATES, ChangeKind, ChangeRequest, RequestState, asked_by_this_work
from bot.domain.commands import DatabaseRef
from bot.domain.costs import DatabaseFacts
from bot.domain.creating import Creating, restored_name_refusal, unsendable
from bot.domain.deciding import Deciding
from bot.domain.naming import channel as named_channel
from bot.domain.naming import person
from bot.domain.outcomes import POLICY_DAMAGED, ChangePlan, Outcome, OutcomeKind, describe_state, unknown_button
from bot.domain.policy import BackupPolicy, PolicyUpdate, resulting_values
from bot.domain.ports import PlanetScaleError
from bot.domain.read_gate import Lookup, as_told, readable_targets
from bot.domain.reading import PolicyNotFound


class Reverting(Creating, Deciding):
    # Within an instance two clicks on one revert take turns (set by ChangePath).
    _reverting: threading.Lock

    if TYPE_CHECKING:  # the change path's (bot/domain/changes.py)
        def _facts_of(self, db: DatabaseRef, current: BackupPolicy, target: str) -> DatabaseFacts | None: ...

    def revert(self, request_id: str, user: str, channel: str) -> Outcome:
        """The inverse of an applied change, asked by `user` under the same rules as any change."""
        original = self.store.get_request(request_id)
        if original is None:
            self.store.record(unknown_button(user, channel, "Revert", request_id))
            return Outcome(OutcomeKind.REFUSED, "That change does not exist (the button may not be from this bot).")
        if original.state is not RequestState.APPLIED:
            self._record_request("refused", original, user, detail="revert of a change that was not applied")
            return Outcome(OutcomeKind.REFUSED, "Only an applied change can be reverted, and this one is "
                                                f"{describe_state(original)}.")
        if self._asked_on(original) is None:  # what it would put back is not known
            self._record_request("refused", original, user, detail=f"revert: {POLICY_DAMAGED}")
            return Outcome(OutcomeKind.REFUSED, f"This change cannot be reverted: {POLICY_DAMAGED}, so what it "
                                                "would put back is not known. Nothing was asked; ask the values you "
                                                "want with `/backup-policy update`.")
        if original.kind is not ChangeKind.UPDATE or restored_name_refusal(original):  # refused there, saying why
            with self._reverting:  # two clicks on one instance take turns, as an update's revert does
                return self.revert_lifecycle(original, user, channel)
        db = DatabaseRef(original.organization, original.database)
        # The day and week PlanetScale cleared as its frequency went to hours or days (not the dashboard's) come back.
        moved = [f for f in ("schedule_day", "schedule_week") if {"frequency_value", "frequency_unit"} & set(
            original.changes) and original.after and original.after.get(f) != original.before.get(f)]
        return self._revert(db, original.policy_id, {f: original.before[f] for f in [*original.changes, *moved]},
                            user, channel,
                            f"revert of the change requested by {person(original.requester)}", revert_of=original.id)

    def _open_revert(self, db: DatabaseRef, policy_id: str, reason: str, revert_of: str,
                     since: float | None = None) -> Outcome | None:
        """A revert already asked, still open or (`since`) applied since this click's read: a second click gets it."""
        found = self.store.policy_requests(db.organization, db.database, policy_id, OPEN_STATES)
        found += [] if since is None else self.store.policy_requests(
            db.organization, db.database, policy_id, [RequestState.APPLIED], updated_since=since)
        for request in found:
            if request.revert_of == revert_of and request.reason == reason and not request.reason_by_person:
                if asked_by_this_work(request.id):  # by this work's first run, which stopped before posting it
                    return self._stored_before(request)
                return self._asked_already(request)
        return None

    @staticmethod
    def _asked_already(request: ChangeRequest) -> Outcome:
        return Outcome(OutcomeKind.CLOSED, f"This revert is already asked by {person(request.requester)} and is "
                                           f"{describe_state(request)}: see its request `{request.id[:8]}` in "
                                           f"{named_channel(request.channel)}. Nothing more was done.", request)

    def revert_outside_change(self, db: DatabaseRef, policy_id: str, earlier: Mapping[str, Any], user: str,
                              channel: str, seen_at: str, notice_id: str) -> Outcome:
        """The inverse of a change the watch saw made outside the bot (`earlier`: the values before it, only the
        fields it changed), asked by `user` like any change; its `revert_of` is the watch's notice (one open
        revert)."""
        return self._revert(db, policy_id, dict(earlier), user, channel,
                            f"revert of a change made outside the bot (seen {seen_at})", revert_of=notice_id,
                            of_request=False)

    def _revert(self, db: DatabaseRef, policy_id: str, inverse: dict[str, Any], user: str, channel: str,
                reason: str, revert_of: str, of_request: bool = True) -> Outcome:
        """Ask `inverse` as any change, judged by the judge on the policy as read now (nothing is read for someone
        no rule for the database names here). The reason is the bot's, so it does not stand for the one a
        guardrail's override asks of a person."""
        # A day or week that was null is not sent: the PATCH takes no nulls, and PlanetScale clears them itself
        # when the schedule goes back to hours or days.
        inverse = {f: value for f, value in inverse.items() if value is not None}
        refused = self._may_see(user, channel, db, request_id=revert_of if of_request else None)
        if refused is not None:
            return refused
        # Within an instance two clicks take turns here; across instances the store keeps one open revert each.
        with self._reverting:
            return self._open_revert(db, policy_id, reason, revert_of) or \
                self._revert_now(db, policy_id, inverse, user, channel, reason, revert_of, of_request)

    def _revert_now(self, db: DatabaseRef, policy_id: str, inverse: dict[str, Any], user: str, channel: str,
                    reason: str, revert_of: str, of_request: bool) -> Outcome:
        read_at = self.clock()
        visible = readable_targets(self.access, user, channel, db)
        try:
            listed = self.policies.list_policies(db)
            current = self._stored_policy(db, policy_id, listed)
        except PolicyNotFound:  # told among the policies the person may see, as their own lookup of its ID
            return Outcome(OutcomeKind.NOT_FOUND, self.policies.as_if_absent(db, policy_id, visible, listed))
        except PlanetScaleError as exc:
            return self._failed_read(user, db, channel, "reading the policy to revert a change", exc)
        # Moved since to a target the person may read nowhere: told as gone, judged and refused as any.
        told = partial(as_told, self.access, self.policies, user, channel, Lookup(db, policy_id, visible, listed),
                       current)
        if all(current.field_value(f) == value for f, value in inverse.items()):
            return told(Outcome(OutcomeKind.INVALID, "The policy already has the values from before this change; "
                                                     "nothing to revert."))
        try:
            update = PolicyUpdate(**inverse)
        except ValidationError as exc:
            return told(self._refuse(user, db, channel, unsendable(exc),
                                     request_id=revert_of if of_request else None))
        facts = self._facts_of(db, current, resulting_values(current, update)["target"])
        plan = ChangePlan(db, current, update, reason, reason_by_person=False, facts=facts)
        # Asked and applied on another instance since this read began: that one stands, this read is stale.
        return self._open_revert(db, policy_id, reason, revert_of, read_at) or \
            told(self._request(user, channel, plan, revert_of=revert_of, reference=revert_of if of_request else None))
