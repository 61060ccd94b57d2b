"""Creating and deleting held to their rules over generated snapshots and amounts: a required policy is never
deleted, a floor of policies never crossed without its override, a taken name never created twice, and the
backups kept at once counted as retention ÷ frequency."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.access_rules import parse_rules
from bot.domain.change_requests import ChangeKind
from bot.domain.costs import Basis, DatabaseFacts, estimate, kept_at_once
from bot.domain.judge import Asked, DirectoryFacts, Refusal, Snapshot, Stage, VerdictKind, judge
from bot.domain.policy import BackupPolicy, planned_policy

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500")) // 5 or 1
ALICE, CAROL = "U0ALICE001", "U0CAROL001"
RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["U0ALICE001"]
approvers = ["U0CAROL001"]
approvals = {approvals}
{guardrail}
"""
UNITS = ["hour", "day", "week", "month"]


def policy(target: str, required: bool, name: str = "p") -> dict[str, Any]:
    return {"id": "bp1", "name": name, "display_name": name, "target": target, "retention_value": 7,
            "retention_unit": "day", "frequency_value": 1, "frequency_unit": "day", "schedule_time": "04:00",
            "schedule_day": None, "schedule_week": None, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "last_ran_at": None, "next_run_at": None, "required": required}


@st.composite
def deletions(draw: Any) -> tuple[Snapshot, int, int | None, int | None]:
    target = draw(st.sampled_from(["production", "development"]))
    required = draw(st.booleans())
    floor = draw(st.one_of(st.none(), st.integers(1, 4)))
    override = draw(st.one_of(st.none(), st.integers(1, 2)))
    guardrail = "" if floor is None else (f'[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\n'
                                          f"min_policies = {floor}\n"
                                          + (f"override_approvals = {override}\n" if override else ""))
    rules = parse_rules(RULES.format(approvals=draw(st.integers(0, 1)), guardrail=guardrail))
    count = draw(st.integers(1, 5))
    listed = tuple([("bp1", "p", target)] + [(f"bp{i + 2}", f"q{i}", target) for i in range(count - 1)]
                   + [("bpx", "other", "development" if target == "production" else "production")])
    before = policy(target, required)
    stage = draw(st.sampled_from(list(Stage)))
    asked = Asked("acme", "app-db", ALICE, "C0DBAOPS01", before, {}, draw(st.sampled_from([None, "why"])),
                  True, ChangeKind.DELETE)
    approvals = () if stage is Stage.ASKING else tuple(draw(st.lists(st.sampled_from([ALICE, CAROL]), unique=True)))
    snap = Snapshot(stage, rules, BackupPolicy.model_validate(before), asked, approvals, DirectoryFacts({}, {}),
                    DatabaseFacts(listed))
    return snap, count, floor, override


@settings(max_examples=EXAMPLES, deadline=None)
@given(deletions())
def test_a_deletion_never_removes_a_required_policy_nor_crosses_a_floor_without_its_override(
    drawn: tuple[Snapshot, int, int | None, int | None]
) -> None:
    snap, count, floor, override = drawn
    verdict = judge(snap)
    if snap.policy.required:
        assert verdict.kind is VerdictKind.REFUSE and verdict.refusal is Refusal.INVALID
        return
    crosses = floor is not None and count - 1 < floor
    if crosses and not override:
        assert verdict.kind is VerdictKind.REFUSE and verdict.refusal is Refusal.GUARDRAIL
    if crosses and override and verdict.kind is VerdictKind.APPLY:
        assert snap.asked.reason and len([a for a in snap.approvals if a != ALICE]) >= override
    if not crosses:
        assert verdict.refusal is not Refusal.GUARDRAIL


@settings(max_examples=EXAMPLES, deadline=None)
@given(deletions())
def test_a_deletion_under_a_floor_whose_policies_could_not_be_read_is_never_applied_nor_refused_on_them(
    drawn: tuple[Snapshot, int, int | None, int | None]
) -> None:
    """The policies as recorded may be stale (rev19i): read again and unreadable, the floor is not judged on them."""
    snap, _, floor, _ = drawn
    assert snap.facts is not None
    verdict = judge(replace(snap, facts=replace(snap.facts, policies_unread="PlanetScale had an error (503)")))
    if snap.policy.required or floor is None:
        assert verdict.kind is judge(snap).kind
    else:
        assert verdict.kind is VerdictKind.CANNOT_TELL and "could not be read" in verdict.reason, verdict


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.sampled_from(list(Stage)), st.booleans(), st.sampled_from(["production", "development"]))
def test_a_creation_of_a_name_taken_in_the_database_never_applies(stage: Stage, taken: bool, target: str) -> None:
    values = {"name": "Nightly", "target": target, "retention_value": 7, "retention_unit": "day",
              "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}
    planned = planned_policy(values)
    listed = (("bp9", "Nightly" if taken else "Other", "development"),)
    asked = Asked("acme", "app-db", ALICE, "C0DBAOPS01", planned.model_dump(), values, None, True, ChangeKind.CREATE)
    rules = parse_rules(RULES.format(approvals=0, guardrail=""))
    verdict = judge(Snapshot(stage, rules, planned, asked, (), DirectoryFacts({}, {}), DatabaseFacts(listed)))
    if taken and stage is not Stage.APPROVING:
        assert verdict.kind is VerdictKind.REFUSE
        assert verdict.refusal is (Refusal.MOVED if stage is Stage.APPLYING else Refusal.INVALID)
    else:
        assert verdict.kind is VerdictKind.APPLY


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.integers(1, 500), st.sampled_from([*UNITS, "year"]), st.integers(1, 60), st.sampled_from(UNITS),
       st.integers(1, 10**12))
def test_the_backups_kept_at_once_are_retention_over_frequency_and_storage_is_their_size(
    retention: int, retention_unit: str, frequency: int, frequency_unit: str, size: int
) -> None:
    values = {"retention_value": retention, "retention_unit": retention_unit, "frequency_value": frequency,
              "frequency_unit": frequency_unit}
    kept = kept_at_once(values)
    assert kept >= 1
    assert kept_at_once({**values, "retention_value": retention * 2}) >= kept  # longer never keeps fewer
    if retention_unit == frequency_unit and retention % frequency == 0:
        assert kept == retention // frequency
    guess = estimate(None, values, DatabaseFacts((), None, Basis(size, 0.5)))
    assert guess.before is None and guess.after is not None
    assert guess.after.storage == kept * size and guess.after.cost == round(kept * 0.5, 4)
