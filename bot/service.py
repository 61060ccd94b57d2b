"""Reading and changing backup policies: the one path every door (command, modal, button) goes through."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any

from bot.audit import AuditEvent, AuditLog
from bot.grammar import DatabaseRef
from bot.planetscale import PlanetScaleClient, PlanetScaleError
from bot.policy import BackupPolicy, ChangeRejected, PolicyUpdate, check_change, resulting_values


class PolicyNotFound(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.user_message = message


@dataclass(frozen=True)
class ChangePlan:
    db: DatabaseRef
    before: BackupPolicy
    update: PolicyUpdate
    reason: str | None

    @property
    def after_values(self) -> dict[str, Any]:
        return resulting_values(self.before, self.update)


@dataclass(frozen=True)
class AppliedChange:
    plan: ChangePlan
    after: BackupPolicy


class PolicyService:
    def __init__(self, planetscale: PlanetScaleClient, audit: AuditLog):
        self.planetscale = planetscale
        self.audit = audit

    def list_policies(self, db: DatabaseRef) -> list[BackupPolicy]:
        return self.planetscale.list_policies(db.organization, db.database)

    def find_policy(self, db: DatabaseRef, ref: str) -> BackupPolicy:
        """A policy by its ID or exact name; a miss names the close ones."""
        policies = self.list_policies(db)
        by_id = [p for p in policies if p.id == ref]
        if by_id:
            return by_id[0]
        by_name = [p for p in policies if p.name == ref]
        if len(by_name) == 1:
            return by_name[0]
        if len(by_name) > 1:
            ids = ", ".join(f"`{p.id}`" for p in by_name)
            raise PolicyNotFound(f"{len(by_name)} policies in {db} are named “{ref}”: use an ID ({ids}).")
        names = [p.name for p in policies]
        near = [n for n in names if n.lower() == ref.lower()] or difflib.get_close_matches(ref, names, n=2)
        hint = f" Did you mean {' or '.join(f'“{n}”' for n in near)}?" if near else ""
        listing = f" `/backup-policy list {db}` shows its {len(policies)}." if policies else " It has none."
        raise PolicyNotFound(f"No backup policy in {db} has the ID or exact name “{ref}”.{hint}{listing}")

    def plan(self, db: DatabaseRef, before: BackupPolicy, update: PolicyUpdate,
             reason: str | None = None) -> ChangePlan:
        """Check the change against the policy as read; raises ChangeRejected naming every problem."""
        problems = check_change(before, update)
        if problems:
            raise ChangeRejected(problems)
        return ChangePlan(db, before, update, reason)

    def apply(self, plan: ChangePlan, actor: str, channel: str | None = None, request_id: str | None = None,
              detail: str | None = None) -> AppliedChange:
        """Send the PATCH with only the fields the change sets, and record the outcome either way."""
        db, before = plan.db, plan.before
        attempt = AuditEvent(action="applying", actor=actor, organization=db.organization, database=db.database,
                             policy_id=before.id, policy_name=before.name, before=before.model_dump(),
                             sent=plan.update.to_api(), reason=plan.reason, channel=channel,
                             request_id=request_id, detail=detail)
        try:
            after = self.planetscale.update_policy(db.organization, db.database, before.id, plan.update)
        except PlanetScaleError as exc:
            self.audit.record(replace(attempt, action="failed", detail=exc.user_message))
            raise
        self.audit.record(replace(attempt, action="applied", after=after.model_dump()))
        return AppliedChange(plan, after)
