"""Approvals from several groups: each person counts once, for one group, in the largest assignment there is,
and the same approvals always give the same one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.access import describe_approvals
from bot.domain.access_rules import AccessFileError, parse_rules
from bot.domain.approval_groups import assign, missing

LEADS, SECURITY = "@dba-leads", "@security"
MEMBERS = {LEADS: {"carol", "erin"}, SECURITY: {"erin", "dave"}}


def member_of(person: str, group: str) -> bool:
    return person in MEMBERS[group]


def test_someone_in_both_groups_is_moved_so_that_a_later_approval_still_counts() -> None:
    # erin approved first and could fill either place; carol can fill only @dba-leads.
    placed = assign(["erin", "carol"], [(LEADS, 1), (SECURITY, 1)], member_of)
    assert placed == {"carol": LEADS, "erin": SECURITY}
    assert missing([(LEADS, 1), (SECURITY, 1)], placed) == []


def test_one_person_counts_once_for_one_group() -> None:
    placed = assign(["erin", "erin"], [(LEADS, 1), (SECURITY, 1)], member_of)
    assert placed == {"erin": LEADS}
    assert missing([(LEADS, 1), (SECURITY, 1)], placed) == [(SECURITY, 1)]


def test_approvals_beyond_a_groups_count_do_not_fill_another_group() -> None:
    placed = assign(["carol", "erin"], [(LEADS, 1), (SECURITY, 1)], member_of)
    assert placed == {"carol": LEADS, "erin": SECURITY}
    assert assign(["carol"], [(SECURITY, 1)], member_of) == {}


PEOPLE = ["p0", "p1", "p2", "p3", "p4"]


@given(st.lists(st.sampled_from(PEOPLE), max_size=6),
       st.dictionaries(st.sampled_from(PEOPLE), st.sets(st.sampled_from(["g0", "g1", "g2"])), max_size=5),
       st.lists(st.integers(1, 3), min_size=1, max_size=3))
def test_the_assignment_is_as_large_as_any_and_deterministic(approvers: list[str], groups_of: dict[str, set[str]],
                                                             counts: list[int]) -> None:
    wanted = [(f"g{i}", n) for i, n in enumerate(counts)]

    def member(person: str, group: str) -> bool:
        return group in groups_of.get(person, set())

    placed = assign(approvers, wanted, member)
    assert placed == assign(approvers, wanted, member)
    assert all(member(a, g) for a, g in placed.items())
    for group, count in wanted:
        assert sum(1 for g in placed.values() if g == group) <= count
    # Brute force: no assignment of distinct people to places is larger.
    places = [g for g, n in wanted for _ in range(n)]
    people = list(dict.fromkeys(approvers))

    def best(i: int, used: frozenset[str]) -> int:
        if i == len(places):
            return 0
        return max([best(i + 1, used)] + [1 + best(i + 1, used | {p}) for p in people
                                          if p not in used and member(p, places[i])])

    assert len(placed) == best(0, frozenset())


RULE = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["@dba-team"]
{approvals}
"""


def test_rules_ask_approvals_from_groups_in_either_spelling() -> None:
    for spelling in ('approvals = { "@dba-leads" = 1, "@security" = 2 }',
                     'approvals_from = { "@dba-leads" = 1, "@security" = 2 }'):
        [rule] = parse_rules(RULE.format(approvals=spelling)).rules
        assert rule.approvals == 3
        assert rule.approvals_from == (("@dba-leads", 1), ("@security", 2))
        assert rule.approvers == ["@dba-leads", "@security"]  # the groups asked may approve
    [plain] = parse_rules(RULE.format(approvals='approvers = ["@dba-leads"]\napprovals = 2')).rules
    assert plain.approvals == 2 and plain.approvals_from == ()
    assert describe_approvals(3, (("@dba-leads", 1), ("@security", 2))) == \
        "1 approval from @dba-leads and 2 from @security"


@pytest.mark.parametrize(("approvals", "expected"), [
    ('approvals = { "U0CAROL001" = 1 }', "`U0CAROL001` is not a user group"),
    ('approvals = { "@security" = 0 }', "each group gives 1 to 10 approvals"),
    ('approvals = {}', "a table of group = count"),
    ('approvals = 1\napprovals_from = { "@security" = 2 }', "approvals = 1 but the groups give 2"),
    ('approvals = { "@security" = 1 }\napprovals_from = { "@security" = 1 }', "in `approvals` or in"),
])
def test_bad_group_approvals_are_refused_with_the_fix(approvals: str, expected: str) -> None:
    with pytest.raises(AccessFileError, match=expected):
        parse_rules(RULE.format(approvals=approvals))
