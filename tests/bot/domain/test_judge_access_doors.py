"""The one decider of access (bot/domain/judge_access.py) and what the doors show: `AccessControl`, which looks
the directory up as the decision needs it, answers as the decider does on every fact looked up beforehand (as
the judge's snapshot has them), over generated rules, groups (listed or not), roles (some unreadable), users,
actions, targets and channels."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.access import AccessControl
from bot.domain.access_file import StaticRules
from bot.domain.access_rules import Action, parse_rules
from bot.domain.group_directory import DirectoryError, GroupDirectory
from bot.domain.judge_access import (
    Decision,
    DirectoryFacts,
    Unchecked,
    approvers_of,
    decide,
    is_named,
    sees_database,
)

PEOPLE = ["U0ALICE001", "U0BOB00001", "U0CAROL001"]
GROUPS = ["@g-one", "S0GROUPTWO"]
CHANNELS = ["C0DBAOPS01", "C0RANDOM01"]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500")) // 3 or 1
principals = st.lists(st.sampled_from(PEOPLE + GROUPS), unique=True, max_size=3)


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    text = ""
    for target in draw(st.lists(st.sampled_from(["production", "development", None]), min_size=1, max_size=3)):
        editors, approvers = draw(principals), draw(principals)
        if not editors and not approvers:
            editors = [PEOPLE[0]]
        approvals = draw(st.one_of(st.integers(0, 2), st.dictionaries(st.sampled_from(GROUPS), st.integers(1, 2),
                                                                      min_size=1)))
        if isinstance(approvals, dict):
            written = "{ " + ", ".join(f'"{g}" = {n}' for g, n in approvals.items()) + " }"
        else:
            written = str(approvals)
            if approvals and not approvers:
                approvers = [PEOPLE[2]]
        text += (f'\n[[rules]]\norganizations = ["acme"]\ndatabases = ["{draw(st.sampled_from(["*", "app-db"]))}"]\n'
                 + (f'targets = ["{target}"]\n' if target else "")
                 + (f'channels = ["{CHANNELS[0]}"]\n' if draw(st.booleans()) else "")
                 + ('planetscale_role = "admin"\n' if draw(st.booleans()) else "")
                 + f"editors = {editors!r}\napprovers = {approvers!r}\napprovals = {written}\n").replace("'", '"')
    # Slack lists the groups all at once: none of them when it fails.
    listed = draw(st.integers(0, 3)) > 0
    members = {g: draw(st.frozensets(st.sampled_from(PEOPLE))) if listed else None for g in GROUPS}
    roles = {p: draw(st.sampled_from([None, "admin", "member", "unreadable"])) for p in PEOPLE}
    return {"rules": parse_rules(text), "members": members, "roles": roles,
            "user": draw(st.sampled_from(PEOPLE)), "action": draw(st.sampled_from(list(Action))),
            "database": draw(st.sampled_from(["app-db", "web-db"])), "channel": draw(st.sampled_from(CHANNELS)),
            "targets": draw(st.lists(st.sampled_from(["production", "development"]), min_size=1, max_size=2))}


DOWN = "Slack did not list the user groups (down)"  # GroupDirectory's words for a listing that failed


def directory(members: dict[str, frozenset[str] | None]) -> GroupDirectory:
    """Slack's groups as the doors read them (@g-one by handle, S0GROUPTWO by ID), or a listing that fails."""
    def list_groups() -> list[dict[str, Any]]:
        if any(m is None for m in members.values()):
            raise RuntimeError("down")
        return [{"id": "S0GROUPONE", "handle": "g-one", "users": sorted(members["@g-one"] or ())},
                {"id": "S0GROUPTWO", "handle": "g-two", "users": sorted(members["S0GROUPTWO"] or ())}]
    return GroupDirectory(list_groups)


def door(world: dict[str, Any]) -> AccessControl:
    def role_of(organization: str, user: str) -> str | None:
        role: str | None = world["roles"][user]
        if role == "unreadable":
            raise DirectoryError("PlanetScale's members could not be read")
        return role

    return AccessControl(StaticRules(world["rules"]), directory(world["members"]), role_of)


def looked_up_beforehand(world: dict[str, Any]) -> DirectoryFacts:
    """Every fact, as bot/domain/snapshots.py gathers them for the judge (a failure kept as Unchecked)."""
    members = {g: Unchecked(DOWN) if m is None else m for g, m in world["members"].items()}
    roles = {p: Unchecked("PlanetScale's members could not be read") if r == "unreadable" else r
             for p, r in world["roles"].items()}
    return DirectoryFacts(members, roles)


@settings(max_examples=EXAMPLES, deadline=None)
@given(worlds())
def test_the_doors_decide_as_the_one_decider(world: dict[str, Any]) -> None:
    w = world
    decided = decide(w["rules"], looked_up_beforehand(w), w["user"], w["action"], "acme", w["database"],
                     w["targets"], w["channel"])
    access = door(w)
    if isinstance(decided, Unchecked) and "PlanetScale" in decided.why:
        shown = access.decide(w["user"], w["action"], "acme", w["database"], w["targets"], w["channel"])
        assert not shown.allowed and "could not be checked, so the change is refused" in shown.reason
        assert decided.why in shown.reason
    elif isinstance(decided, Unchecked):
        with pytest.raises(DirectoryError) as refused:
            access.decide(w["user"], w["action"], "acme", w["database"], w["targets"], w["channel"])
        assert str(refused.value) == decided.why
    else:
        assert isinstance(decided, Decision)
        assert access.decide(w["user"], w["action"], "acme", w["database"], w["targets"], w["channel"]) == decided
    approves = decide(w["rules"], looked_up_beforehand(w), w["user"], Action.APPROVE, "acme", w["database"],
                      w["targets"], w["channel"])
    # `decided` is what the doors answer: a directory that could not be read is a refusal saying why.
    answered = access.decided(w["user"], Action.APPROVE, "acme", w["database"], w["targets"], w["channel"])
    if isinstance(approves, Unchecked):
        assert not answered.allowed and approves.why in answered.reason
    else:
        assert answered == approves
    assert access.may_approve(w["user"], "acme", w["database"], w["targets"], w["channel"]) is answered.allowed


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(worlds())
def test_the_read_gate_sees_as_the_one_decider(world: dict[str, Any]) -> None:
    w = world
    seen = sees_database(w["rules"], looked_up_beforehand(w), w["user"], "acme", w["database"], w["channel"])
    if isinstance(seen, Unchecked):
        with pytest.raises(DirectoryError) as refused:
            door(w).may_see_database(w["user"], "acme", w["database"], w["channel"])
        assert str(refused.value) == seen.why
    else:
        assert door(w).may_see_database(w["user"], "acme", w["database"], w["channel"]) == seen


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(worlds(), st.lists(st.sampled_from(GROUPS), unique=True))
def test_who_may_approve_read_once_answers_as_the_one_decider(world: dict[str, Any], unlooked: list[str]) -> None:
    """`approvers_of` answers every person as `decide` does, whatever groups were listed, failed or not looked up."""
    w = world
    known = looked_up_beforehand(w)
    facts = DirectoryFacts({g: m for g, m in known.members.items() if g not in unlooked}, known.roles)
    may_approve = approvers_of(w["rules"], facts, "acme", w["database"], w["targets"], w["channel"])
    for person in PEOPLE:
        one = decide(w["rules"], facts, person, Action.APPROVE, "acme", w["database"], w["targets"], w["channel"])
        assert may_approve(person) == (one if isinstance(one, Unchecked) else one.allowed)


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(worlds(), principals, st.sampled_from(PEOPLE))
def test_the_directory_names_as_the_one_decider(world: dict[str, Any], named: list[str], user: str) -> None:
    """GroupDirectory.is_named answers as `is_named` on the listed groups, and fails only on a group it needs."""
    w = world
    found = is_named(user, named, looked_up_beforehand(w))
    if isinstance(found, Unchecked):
        with pytest.raises(DirectoryError):
            directory(w["members"]).is_named(user, named)
    else:
        assert directory(w["members"]).is_named(user, named) is found
