"""Approvals asked from several groups (`approvals = { "@dba-leads" = 1, "@security" = 1 }`): which approver
counts for which group.

One person counts once, for one group. Who counts where is a bipartite matching of approvers to the groups'
places, and the largest one is taken (Kuhn's augmenting paths), so an approval never goes unused because an
earlier one took the only place it could fill: with carol in both groups and dave only in @security, carol
counts for @dba-leads and dave for @security. Approvers are tried in the order they approved and places in
the rule's order, so the same approvals always give the same assignment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def assign(approvers: Sequence[str], wanted: Sequence[tuple[str, int]],
           member_of: Callable[[str, str], bool]) -> dict[str, str]:
    """The group each counted approver counts for (approvers who fill no place are left out)."""
    places = [group for group, count in wanted for _ in range(count)]
    fits = {a: [p for p, group in enumerate(places) if member_of(a, group)] for a in dict.fromkeys(approvers)}
    holder: dict[int, str] = {}

    def place(approver: str, tried: set[int]) -> bool:
        for p in fits[approver]:
            if p in tried:
                continue
            tried.add(p)
            if p not in holder or place(holder[p], tried):
                holder[p] = approver
                return True
        return False

    for approver in fits:
        place(approver, set())
    return {approver: places[p] for p, approver in sorted(holder.items())}


def missing(wanted: Sequence[tuple[str, int]], assignment: dict[str, str]) -> list[tuple[str, int]]:
    """How many approvals each group still owes, for the groups that owe any."""
    owed = []
    for group, count in wanted:
        got = sum(1 for g in assignment.values() if g == group)
        if got < count:
            owed.append((group, count - got))
    return owed
