"""Reading backup policies: a database's list, and one policy by its ID or exact name."""

from __future__ import annotations

import difflib
from collections.abc import Collection

from bot.domain.commands import DatabaseRef, is_glob
from bot.domain.naming import outside, policy_id
from bot.domain.policy import BackupPolicy, name_key
from bot.domain.ports import PlanetScaleApi


class PolicyNotFound(Exception):
    unreachable = False  # PlanetScale answered: the policy is not there
    def __init__(self, message: str):
        super().__init__(message)
        self.user_message = message


class PolicyService:
    def __init__(self, planetscale: PlanetScaleApi):
        self.planetscale = planetscale

    def list_policies(self, db: DatabaseRef) -> list[BackupPolicy]:
        return self.planetscale.list_policies(db.organization, db.database)

    def find_policy(self, db: DatabaseRef, ref: str, visible: Collection[str] | None = None,
                    listed: list[BackupPolicy] | None = None) -> BackupPolicy:
        """A policy by its ID or exact name; a miss names the close ones among those whose target is `visible`
        to the person asking (all, when not given), so a typo never reveals a policy they may not see. `listed`:
        the database's policies as just read, not read again."""
        policies = self.list_policies(db) if listed is None else listed
        by_id = [p for p in policies if p.id == ref]
        # Another policy named as this ID reads (a name given in the dashboard; the bot refuses such names): the
        # person may have read either in a list, so neither is taken.
        named_so = [p for p in policies if by_id and p.id != ref and name_key(p.name) == name_key(ref)
                    and (visible is None or p.target in visible)]
        if named_so:
            others = ", ".join(policy_id(p.id) for p in named_so[:3])
            if visible is not None and by_id[0].target not in visible:  # its name is not theirs to read
                raise PolicyNotFound(f"“{outside(ref)}” in {db} is the ID of a policy you may not see here and the "
                                     f"name of {others}: use the ID {policy_id(named_so[0].id)}.")
            raise PolicyNotFound(
                f"“{outside(ref)}” in {db} is the ID of “{outside(by_id[0].name)}” and the name of {others}: name "
                f"the one you mean by its other handle, its name “{outside(by_id[0].name)}” or the ID "
                f"{policy_id(named_so[0].id)}.")
        if by_id:
            return by_id[0]
        by_name = [p for p in policies if p.name == ref]
        # Among those of a name, the ones the person may see: a hidden namesake is neither meant nor named, and a
        # name only hidden policies hold is answered as one nobody holds (the rules' refusal would tell its target).
        mine = [p for p in by_name if visible is None or p.target in visible]
        if len(mine) == 1:
            return mine[0]
        if len(mine) > 1:
            ids = ", ".join(policy_id(p.id) for p in mine)
            raise PolicyNotFound(f"{len(mine)} policies in {db} are named “{outside(ref)}”: use an ID ({ids}).")
        seen = [p for p in policies if visible is None or p.target in visible]
        alike = [p for p in seen if name_key(p.name) == name_key(ref)]
        if alike:
            # Named in the dashboard with characters that read as the ones typed: a guess of the same name back
            # could not be typed, so its ID is what to use.
            ids = ", ".join(f"{policy_id(p.id)} (its name holds {_unlike(p.name, ref)})" for p in alike[:3])
            which = "one reads as it: use its ID" if len(alike) == 1 else "some read as it: use an ID"
            raise PolicyNotFound(f"No backup policy in {db} has the exact name “{outside(ref)}”, but {which}: {ids}.")
        names = [p.name for p in seen]
        near = [n for n in names if n.lower() == ref.lower()] or difflib.get_close_matches(ref, names, n=2)
        hint = f" Did you mean {' or '.join(f'“{outside(n)}”' for n in near)}?" if near else ""
        listing = f" `/backup-policy list {db}` shows its {len(seen)}." if seen else " It has none you may see."
        if is_glob(ref):  # a glob where one policy is named: say where globs go
            listing += (" A name glob (`*`, `?`) is read as a name here: only `update` and `edit` take one, to "
                        "change many policies at once.")
        raise PolicyNotFound(f"No backup policy in {db} has the ID or exact name “{outside(ref)}”.{hint}{listing}")

    def as_if_absent(self, db: DatabaseRef, ref: str, visible: Collection[str] | None, listed: list[BackupPolicy],
                     hidden: BackupPolicy | None = None) -> str:
        """What a lookup of `ref` answers had `hidden` not been among `listed`: the answer for a policy the
        person may read nowhere, so that they are never told it exists (nor its target)."""
        try:
            self.find_policy(db, ref, visible, listed=[p for p in listed if hidden is None or p.id != hidden.id])
        except PolicyNotFound as exc:
            return exc.user_message
        return f"No backup policy in {db} has the ID or exact name “{outside(ref)}”."


def _unlike(name: str, ref: str) -> str:
    """The first character of `name` that is not what was typed, as U+XXXX, or a word when none is."""
    for ch in name:
        if ch not in ref:
            return f"U+{ord(ch):04X}"
    return "other spacing"
