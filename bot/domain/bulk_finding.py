"""What a bulk change names (bot/domain/bulk.py): a database name or glob of one organization and a policy name
glob, narrowed to a target, or policies chosen by ID; found among the databases the person may see here, each
database read once, and at most MAX_DATABASES_READ of them for one change."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from bot.domain.audit import AuditEvent
from bot.domain.batches import BatchOutcome, BatchOutcomeKind, Skipped, SkipReason
from bot.domain.changes import ChangePath
from bot.domain.commands import DatabaseRef, is_glob
from bot.domain.export import matching_databases, organization_named
from bot.domain.naming import outside, policy_id
from bot.domain.policy import BackupPolicy, name_key
from bot.domain.ports import PlanetScaleError
from bot.domain.read_gate import readable_targets

# A glob reads each database it matches (one request each, from the command's budget): more than this many is
# refused with the count before any is read.
MAX_DATABASES_READ = 50


@dataclass(frozen=True)
class Selection:
    """The policies a bulk change names: a database name or glob of one organization and a policy name glob
    (or an ID), narrowed to a target; or, from a retry or a form, the policies chosen by ID."""

    organization: str
    databases: str = "*"
    policies: str = "*"
    where_target: str | None = None
    chosen: tuple[tuple[str, str], ...] = ()  # (database, policy ID)

    @property
    def words(self) -> str:
        where = f" where target={self.where_target}" if self.where_target else ""
        if self.chosen:
            return (f"{len(self.chosen)} chosen polic{'y' if len(self.chosen) == 1 else 'ies'} of "
                    f"{self.organization}{where}")
        return f"{self.organization}/{self.databases} {self.policies}{where}"

    def names(self, policy: BackupPolicy, database: str) -> bool:
        if self.chosen:  # a retry's `--where` too: a policy moved since to another target is not named
            return (database, policy.id) in self.chosen and self.where_target in (None, policy.target)
        # Only `*` and `?` make a glob (export.is_glob): a `[` is itself, as it is in a name asked alone. Names are
        # matched as they read (policy.name_key): one named in the dashboard with a no-break space is not left out.
        pattern = name_key(self.policies).replace("[", "[[]")
        matched = self.exactly(policy) or fnmatch.fnmatchcase(name_key(policy.name), pattern)
        return matched and (self.where_target is None or policy.target == self.where_target)

    def exactly(self, policy: BackupPolicy) -> bool:
        """Whether the policy glob is this policy's ID or exact name (a name may hold `*` or `?`)."""
        return self.policies in (policy.id, policy.name) and (self.where_target in (None, policy.target))


@dataclass
class Found:
    policies: list[tuple[str, BackupPolicy]]
    skipped: list[Skipped]
    hidden_databases: int = 0
    listed: dict[str, list[BackupPolicy]] = field(default_factory=dict)  # every policy of each database read
    exact: bool = False  # the policy glob is the exact name (or ID) of a policy it names: only those are named
    hidden_chosen: list[tuple[str, str]] = field(default_factory=list)  # chosen by ID, hidden here now


class Finding:
    changes: ChangePath

    def _find(self, user: str, channel: str, selection: Selection) -> Found | BatchOutcome:
        """The policies the selection names that the user may see here, each database read once."""
        org = selection.organization
        access = self.changes.access
        if selection.chosen:
            databases = [DatabaseRef(org, d) for d in dict.fromkeys(d for d, _ in selection.chosen)]
        elif is_glob(selection.databases):
            if not organization_named(access, user, org, channel):
                return self._refuse(user, org, channel, f"You are not named in the access rules for any database "
                                                        f"of {org} in this channel.")
            databases = matching_databases(self.changes.planetscale.list_databases(org), org, selection.databases)
        else:
            databases = [DatabaseRef(org, selection.databases)]
        found = Found([], [])
        seen = [db for db in databases if access.may_see_database(user, org, db.database, channel).allowed]
        found.hidden_databases = len(databases) - len(seen)
        found.hidden_chosen = [(d, policy_id) for d, policy_id in selection.chosen
                               if all(db.database != d for db in seen)]
        if is_glob(selection.databases) and not selection.chosen and len(seen) > MAX_DATABASES_READ:
            why = (f"`{org}/{selection.databases}` names {len(seen)} databases you may see here, and one bulk change "
                   f"reads at most {MAX_DATABASES_READ}. Nothing was read, asked or sent: narrow the database glob "
                   f"(e.g. `{org}/billing-*`) and ask in parts.")
            self._refuse(user, org, channel, why)
            return BatchOutcome(BatchOutcomeKind.TOO_MANY, why, count=len(seen))
        named_in: list[tuple[DatabaseRef, list[BackupPolicy], set[str]]] = []
        for db in seen:
            visible = readable_targets(access, user, channel, db)  # one Slack's groups leave unchecked: hidden
            try:
                policies = self.changes.policies.list_policies(db)
            except PlanetScaleError as exc:
                found.skipped.append(Skipped(db.database, None, None, SkipReason.UNREADABLE, exc.user_message))
                continue
            found.listed[db.database] = policies
            named_in.append((db, [p for p in policies if selection.names(p, db.database)], visible))
            found.skipped += [Skipped(db.database, policy_id, None, SkipReason.GONE, "it is no longer in PlanetScale")
                              for d, policy_id in selection.chosen
                              if d == db.database and all(p.id != policy_id for p in policies)]
            found.skipped += [Skipped(db.database, p.id, p.name, SkipReason.INVALID,
                                      f"it is now a {p.target} policy, and this change is only for "
                                      f"{selection.where_target} ones (`--where target={selection.where_target}`)")
                              for p in policies if (db.database, p.id) in selection.chosen
                              and selection.where_target not in (None, p.target) and p.target in visible]
            found.hidden_chosen += [(db.database, p.id) for p in policies
                                    if (db.database, p.id) in selection.chosen and p.target not in visible]
        twice = _id_and_name(selection, [(db, found.listed[db.database], visible) for db, _, visible in named_in])
        if twice is not None:
            return BatchOutcome(BatchOutcomeKind.NOTHING, twice)
        # A glob that is a policy's exact name ("Daily?") names that policy (in each database that has one), never
        # every name its characters match: the person named a policy they read (a hidden one is not theirs to
        # read, and changes nothing here). `*` alone means every policy.
        found.exact = not selection.chosen and is_glob(selection.policies) and selection.policies.strip("*") != "" \
            and any(selection.exactly(p) and p.target in visible for _, named, visible in named_in for p in named)
        for db, named, visible in named_in:
            named = [p for p in named if selection.exactly(p)] if found.exact else named
            found.policies += [(db.database, p) for p in named if p.target in visible]
        if not found.policies and not found.skipped:
            if found.hidden_chosen:
                return BatchOutcome(BatchOutcomeKind.NOTHING, "Nothing was asked or sent: the access rules, as they "
                                    "are now, let you see none of the chosen policies in this channel.",
                                    hidden_chosen=tuple(found.hidden_chosen))
            if found.hidden_databases and found.hidden_databases == len(databases):
                return self._refuse(user, org, channel, f"The access rules let you see none of the databases "
                                                        f"{selection.words} names in this channel.")
            return BatchOutcome(BatchOutcomeKind.NOTHING, f"No policy you may see matches {selection.words}: "
                                                          "`/backup-policy list <org>/<database>` shows them.")
        return found

    def _refuse(self, user: str, organization: str, channel: str, reason: str) -> BatchOutcome:
        self.changes.store.record(AuditEvent(action="refused", actor=user, organization=organization, database="",
                                             detail=reason, channel=channel))
        return BatchOutcome(BatchOutcomeKind.REFUSED, reason)


def _id_and_name(selection: Selection, read: list[tuple[DatabaseRef, list[BackupPolicy], set[str]]]) -> str | None:
    """Why nothing is named when the policy reference is one policy's ID and another's name (given in the
    dashboard; the bot refuses such names), in any database read and whatever the target: the person may have
    read either in a list (find_policy answers one database so). A hidden policy's ID is as if absent: it was
    never theirs to read, and saying it is one would tell them it exists."""
    ref = selection.policies
    if selection.chosen:
        return None
    by_id = [(db, p) for db, policies, visible in read for p in policies if p.id == ref and p.target in visible]
    by_name = [(db, p) for db, policies, visible in read for p in policies
               if p.id != ref and name_key(p.name) == name_key(ref) and p.target in visible]
    if not by_id or not by_name:
        return None
    ids = "; ".join(f"“{outside(p.name)}” in {db}" for db, p in by_id[:3])
    names = "; ".join(f"{policy_id(p.id)} in {db}" for db, p in by_name[:3])
    ways = [f"`/backup-policy update {db} \"{outside(p.name)}\" …`" for db, p in by_id[:3]]
    ways += [f"`/backup-policy update {db} {p.id} …`" for db, p in by_name[:3]]
    return (f"Nothing was asked or sent: “{outside(ref)}” is the ID of {ids} and the name of {names}, so "
            f"`{selection.words}` could mean either. Name the one you mean by its other handle: "
            f"{' or '.join(ways)}.")
