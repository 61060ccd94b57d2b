"""The judge held to its rules over generated snapshots: rules per target (counts or groups), guardrails with
and without overrides, reasons by a person or by the bot, approvals from anyone (the requester too), moves
between targets, policies moved in PlanetScale, and directory facts of which some could not be checked."""

from __future__ import annotations

import itertools
import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.access_rules import AccessRules, parse_rules
from bot.domain.judge import Asked, DirectoryFacts, Refusal, Snapshot, Stage, Unchecked, VerdictKind, judge
from bot.domain.policy import BackupPolicy

PEOPLE = ["U0ALICE001", "U0BOB00001", "U0CAROL001", "U0DAVE0001"]
GROUPS = ["@g-one", "@g-two"]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500")) // 3 or 1

principals = st.lists(st.sampled_from(PEOPLE + GROUPS), unique=True, max_size=3)
demand = st.one_of(st.integers(0, 2), st.dictionaries(st.sampled_from(GROUPS), st.integers(1, 2), min_size=1))


@st.composite
def rule_texts(draw: Any) -> tuple[str, dict[str, Any]]:
    text = ""
    shape: dict[str, Any] = {}
    for target in ("production", "development"):
        editors, approvers, approvals = draw(principals), draw(principals), draw(demand)
        if not editors and not approvers:
            editors = ["U0ALICE001"]
        if isinstance(approvals, dict):
            written = "{ " + ", ".join(f'"{g}" = {n}' for g, n in approvals.items()) + " }"
        else:
            written = str(approvals)
            if approvals and not approvers:
                approvers = ["U0DAVE0001"]
        shape[target] = (editors, approvers, approvals)
        text += (f'\n[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\ntargets = ["{target}"]\n'
                 f"editors = {editors!r}\napprovers = {approvers!r}\napprovals = {written}\n").replace("'", '"')
    override = draw(st.sampled_from([None, 0, 1, 2]))
    if override is not None:
        text += '\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\nmin_retention = "3d"\n'
        if override:
            text += f"override_approvals = {override}\n"
    shape["override"] = override
    return text, shape


@st.composite
def snapshots(draw: Any) -> tuple[Snapshot, dict[str, Any]]:
    text, shape = draw(rule_texts())
    rules: AccessRules = parse_rules(text)
    members: dict[str, frozenset[str] | Unchecked] = {}
    for group in GROUPS:
        members[group] = Unchecked("usergroups.list: ratelimited") if draw(st.integers(0, 9)) == 0 else \
            frozenset(draw(st.lists(st.sampled_from(PEOPLE), unique=True)))
    facts = DirectoryFacts(members, {})
    stage = draw(st.sampled_from(list(Stage)))
    target = draw(st.sampled_from(["production", "development"]))
    before = {"id": "bp1", "name": "p", "display_name": "p", "target": target,
              "retention_value": draw(st.integers(1, 6)), "retention_unit": "day", "frequency_value": 1,
              "frequency_unit": "day", "schedule_time": "04:00", "schedule_day": None, "schedule_week": None,
              "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "last_ran_at": None,
              "next_run_at": None, "required": False}
    changes: dict[str, Any] = {"retention_value": draw(st.integers(1, 6)), "retention_unit": "day"}
    if draw(st.booleans()):
        changes["target"] = "development" if target == "production" else "production"
    policy = dict(before)
    if stage is not Stage.ASKING and draw(st.integers(0, 4)) == 0:
        policy[draw(st.sampled_from(["target", "retention_value"]))] = draw(st.sampled_from(
            ["production", "development"])) if draw(st.booleans()) else 9
    if stage is Stage.ASKING:
        policy = dict(before)
    if policy["target"] not in ("production", "development"):
        policy["target"] = before["target"]
    if not isinstance(policy["retention_value"], int):
        policy["retention_value"] = before["retention_value"]
    asked = Asked("acme", "app-db", draw(st.sampled_from(PEOPLE)), "C0DBAOPS01", before, changes,
                  draw(st.sampled_from([None, "cost"])), draw(st.booleans()))
    approvals = () if stage is Stage.ASKING else tuple(draw(st.lists(st.sampled_from(PEOPLE), unique=True)))
    snap = Snapshot(stage, rules, BackupPolicy.model_validate(policy), asked, approvals, facts)
    return snap, shape


def named(user: str, names: list[str], facts: DirectoryFacts) -> bool | None:
    """True/False, or None when only an unchecked group could tell."""
    unknown = False
    for name in names:
        if name == user:
            return True
        if name.startswith("@"):
            found = facts.members[name]
            if isinstance(found, Unchecked):
                unknown = True
            elif user in found:
                return True
    return None if unknown else False


def matching_exists(approvers: list[str], wanted: dict[str, int], facts: DirectoryFacts) -> bool:
    """Brute force: some assignment gives each group its count, one person filling one place."""
    places = [g for g, n in wanted.items() for _ in range(n)]
    if len(places) > len(approvers):
        return False
    for chosen in itertools.permutations(approvers, len(places)):
        if all(named(a, [g], facts) for a, g in zip(chosen, places, strict=True)):
            return True
    return False


@settings(max_examples=EXAMPLES, deadline=None)
@given(snapshots())
def test_the_judge_applies_only_what_every_rule_and_guardrail_allows(drawn: tuple[Snapshot, dict[str, Any]]) -> None:
    snap, shape = drawn
    verdict = judge(snap)
    assert verdict == judge(snap), "the same snapshot gave two verdicts"
    asked = snap.asked
    targets = list(dict.fromkeys(asked.targets))
    if snap.stage is Stage.APPLYING and (snap.policy.target != asked.before["target"] or any(
            snap.policy.field_value(f) != asked.before[f] for f in asked.changes)):
        assert verdict.kind is VerdictKind.REFUSE and verdict.refusal is Refusal.MOVED
        return
    if verdict.kind is VerdictKind.WAIT:
        assert verdict.missing > 0
    if verdict.kind is VerdictKind.CANNOT_TELL:
        assert any(isinstance(m, Unchecked) for m in snap.directory.members.values())
    if verdict.kind is not VerdictKind.APPLY:
        return
    # Applied: the requester is an editor under the rule of every target it touches.
    for target in targets:
        editors, _, _ = shape[target]
        assert named(asked.requester, editors, snap.directory) is True
    # The guardrail: unbroken, or overridden with a person's reason and its approvals.
    base = asked.before if snap.stage is Stage.APPROVING else snap.policy.model_dump()
    kept = {**base, **asked.changes}["retention_value"]
    touches_guardrail = shape["override"] is not None
    need = 0
    if touches_guardrail and kept < 3:
        assert shape["override"], "applied though a guardrail without override refuses it"
        assert asked.reason_by_person and asked.reason, "an override passed without a person's reason"
        need = shape["override"]
    # Approvals: the requester's never counts; an approver counts only if every target's rule names them.
    counted = [a for a in dict.fromkeys(snap.approvals) if a != asked.requester
               and all(named(a, shape[t][1] + [g for g in (shape[t][2] if isinstance(shape[t][2], dict) else {})],
                             snap.directory) for t in targets)]
    for target in targets:
        _, _, approvals = shape[target]
        if isinstance(approvals, dict):
            assert matching_exists(counted, approvals, snap.directory), f"{target}'s groups were not all met"
            need = max(need, sum(approvals.values()))
        else:
            need = max(need, approvals)
    assert len(counted) >= need, f"applied with {len(counted)} of {need} approvals"
    if need and snap.stage is Stage.ASKING:
        raise AssertionError("a change needing approvals was applied at its asking")


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(snapshots())
def test_the_requesters_own_approval_changes_nothing(drawn: tuple[Snapshot, dict[str, Any]]) -> None:
    snap, _ = drawn
    with_own = Snapshot(snap.stage, snap.rules, snap.policy, snap.asked,
                        (*snap.approvals, snap.asked.requester), snap.directory)
    assert judge(with_own).kind is judge(snap).kind


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(snapshots())
def test_a_bots_reason_never_overrides_a_guardrail(drawn: tuple[Snapshot, dict[str, Any]]) -> None:
    snap, shape = drawn
    bots = Snapshot(snap.stage, snap.rules, snap.policy, Asked(**{**snap.asked.__dict__, "reason_by_person": False}),
                    snap.approvals, snap.directory)
    base = snap.asked.before if snap.stage is Stage.APPROVING else snap.policy.model_dump()
    if shape["override"] is not None and {**base, **snap.asked.changes}["retention_value"] < 3:
        assert judge(bots).kind in (VerdictKind.REFUSE, VerdictKind.CANNOT_TELL)
