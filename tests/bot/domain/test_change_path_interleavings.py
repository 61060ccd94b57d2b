"""Property test over interleavings of the change path: requests, approvals, rejections, cancellations,
expiry, recovery, rule changes and policy edits made in PlanetScale meanwhile, in random orders.

Whatever the order: never more than one PATCH per request, never a PATCH the rules as they were at that
moment would refuse, never a PATCH over a field that moved, and every request ends in one final state with an
audit entry that says why."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.store import Store
from bot.domain.access_file import StaticRules
from bot.domain.access_rules import parse_rules
from bot.domain.change_requests import RequestState
from bot.domain.changes import ChangePath
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_demo import seed_demo
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState
from bot.runtime.app import build_dependencies
from bot.runtime.executor import TrackedExecutor
from bot.runtime.settings import Settings

ALICE = "U0ALICE001"
APPROVERS = ["U0CAROL001", "U0LEAD0002", "U0LEAD0003"]
PEOPLE = [ALICE, *APPROVERS, "U0DAVE0001"]
POLICY = "bp01prod12h"
FINAL = {RequestState.APPLIED, RequestState.FAILED, RequestState.REJECTED, RequestState.CANCELLED,
         RequestState.EXPIRED}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500")) // 50 or 1
_databases = itertools.count()


# Approvals from several groups: one from each. U0LEAD0002 is in both, so who counts where must be chosen well
# (when carol approves after them); U0LEAD0003 is an approver in neither, whose approval fills no group.
GROUPS = {"@g-one": ["U0CAROL001", "U0LEAD0002"], "@g-two": ["U0LEAD0002"]}


def rules_text(needed: int, alice_edits: bool, approvers: list[str], by_group: bool = False,
               floor_days: int | None = None) -> str:
    editors = [ALICE] if alice_edits else ["U0BOB00001"]
    approvals = '{ "@g-one" = 1, "@g-two" = 1 }' if by_group else str(needed)
    guardrail = (f'\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\nmin_retention = "{floor_days}d"\n'
                 if floor_days else "")
    return (f'[approvals]\nexpire_after = "1h"\n\n[[rules]]\norganizations = ["acme"]\ndatabases = ["*"]\n'
            f"editors = {editors!r}\napprovers = {approvers!r}\napprovals = {approvals}\n{guardrail}"
            ).replace("'", '"')


def one_from_each_group(approvers: set[str]) -> bool:
    return any(a != b for a in approvers & set(GROUPS["@g-one"]) for b in approvers & set(GROUPS["@g-two"]))


def test_interleavings_never_send_what_the_rules_of_the_moment_refuse(
    settings: Settings, planetscale_server: tuple[PlanetScaleEmulator, Any], planetscale_client: PlanetScaleClient,
    tmp_path: Path, slack: SlackState,
) -> None:
    emulator, _ = planetscale_server
    for handle, members in GROUPS.items():
        slack.add_usergroup(f"S0{handle[1:].upper().replace('-', '')}1", handle[1:], members)

    class Interleavings(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            emulator.state = seed_demo(PlanetScaleState())
            self.planetscale = emulator.state
            self.store = Store(f"sqlite:///{tmp_path / f'bot-{next(_databases)}.db'}")
            self.store.migrate()
            self.now = 1_000_000.0
            self.store.clock = lambda: self.now
            self.needed, self.alice_edits, self.approvers = 1, True, list(APPROVERS)
            self.floor_days: int | None = None
            self.by_group = False
            self.executor = TrackedExecutor(max_workers=1)
            deps = build_dependencies(settings, planetscale_client, self.store, self.executor,
                                      StaticRules(parse_rules(self.rules_now())))
            self.access = deps.access
            self.changes: ChangePath = deps.changes
            self.changes.clock = lambda: self.now
            self.requests: list[str] = []

        def rules_now(self) -> str:
            return rules_text(self.needed, self.alice_edits, self.approvers, self.by_group, self.floor_days)

        def teardown(self) -> None:
            if hasattr(self, "changes"):
                self.now += 10 * 3600
                self.changes.expire_due()
                self.changes.recover()
                for rid in self.requests:
                    request = self.store.get_request(rid)
                    assert request is not None and request.state in FINAL, request
                    said = [e for e in self.store.all_events() if e.request_id == rid and e.action == request.state]
                    assert said, f"no audit entry says why {rid} is {request.state}"
                    if request.state is RequestState.FAILED:
                        assert said[-1].detail or request.detail
                self.store.close()
                self.executor.shutdown()

        # --- what a step may send ------------------------------------------------------------------

        def step(self, action: Any) -> None:
            """Run one step; any PATCH it sends must be one the rules and the policy allowed at that moment."""
            policy_then = dict(self.planetscale.policy("acme", "app-db", POLICY))
            rules_then = (self.needed, self.alice_edits, set(self.approvers), self.by_group)
            floor_then = self.floor_days
            sent_before = len(self.planetscale.calls("PATCH"))
            events_before = len(list(self.store.all_events()))
            action()
            sent = self.planetscale.calls("PATCH")[sent_before:]
            assert len(sent) <= 1
            if sent:
                needed, alice_edits, approvers, by_group = rules_then
                [by] = [e.request_id for e in list(self.store.all_events())[events_before:]
                        if e.action == "applied" and e.sent == sent[0].body]
                applied = self.store.get_request(str(by))
                assert applied is not None
                assert alice_edits, "sent for a requester the rules no longer name"
                if by_group:
                    given = set(self.store.approvers_of(applied.id)) - {ALICE}
                    assert one_from_each_group(given), f"sent without one approval from each group: {given}"
                else:
                    counted = set(self.store.approvers_of(applied.id)) & approvers - {ALICE}
                    assert len(counted) >= needed, f"sent with {len(counted)} of {needed} approvals"
                assert policy_then["target"] == applied.before["target"], "sent after the policy moved"
                for field in applied.changes:
                    assert policy_then[field] == applied.before[field], f"sent over a moved {field}"
                kept_days = sent[0].body.get("retention_value", policy_then["retention_value"])
                assert floor_then is None or kept_days >= floor_then, "sent below the guardrail of the moment"

        @invariant()
        def at_most_one_patch_per_request(self) -> None:
            if not hasattr(self, "store"):
                return
            applied = [e.request_id for e in self.store.all_events() if e.action == "applied" and e.request_id
                       and e.detail != "found applied after a restart"]
            assert len(applied) == len(set(applied))
            assert len(self.planetscale.calls("PATCH")) == len(applied)

        # --- the steps -------------------------------------------------------------------------------

        @rule(days=st.integers(1, 6))
        def ask(self, days: int) -> None:
            def asking() -> None:
                from bot.domain.commands import DatabaseRef
                from bot.domain.policy import PolicyUpdate

                outcome = self.changes.ask(ALICE, "C0DBAOPS01", DatabaseRef("acme", "app-db"), POLICY,
                                           PolicyUpdate(retention_value=days, retention_unit="day"))
                if outcome.request is not None:
                    self.requests.append(outcome.request.id)
            self.step(asking)

        @precondition(lambda self: bool(getattr(self, "requests", None)))
        @rule(which=st.integers(0, 50), who=st.sampled_from(PEOPLE))
        def approve(self, which: int, who: str) -> None:
            rid = self.requests[which % len(self.requests)]
            self.step(lambda: self.changes.approve(rid, who))

        @precondition(lambda self: bool(getattr(self, "requests", None)))
        @rule(which=st.integers(0, 50), who=st.sampled_from(PEOPLE))
        def reject(self, which: int, who: str) -> None:
            rid = self.requests[which % len(self.requests)]
            self.step(lambda: self.changes.reject(rid, who))

        @precondition(lambda self: bool(getattr(self, "requests", None)))
        @rule(which=st.integers(0, 50), who=st.sampled_from([ALICE, "U0CAROL001"]))
        def cancel(self, which: int, who: str) -> None:
            rid = self.requests[which % len(self.requests)]
            self.step(lambda: self.changes.cancel(rid, who))

        @rule(hours=st.sampled_from([0.5, 2]))
        def time_passes(self, hours: float) -> None:
            self.now += hours * 3600
            self.step(self.changes.expire_due)

        @rule()
        def sweep(self) -> None:
            self.now += 120
            self.step(self.changes.recover)

        @rule(needed=st.integers(0, 2), alice_edits=st.booleans(),
              approvers=st.lists(st.sampled_from(APPROVERS), unique=True), by_group=st.booleans())
        def rules_change(self, needed: int, alice_edits: bool, approvers: list[str], by_group: bool) -> None:
            # A rule that asks for approvals must name approvers: the file's stand-in then is dave.
            self.needed, self.alice_edits, self.approvers = needed, alice_edits, approvers or ["U0DAVE0001"]
            self.by_group = by_group
            self.access.source = StaticRules(parse_rules(self.rules_now()))

        @rule(floor_days=st.sampled_from([None, 2, 4]))
        def guardrail_change(self, floor_days: int | None) -> None:
            self.floor_days = floor_days
            self.access.source = StaticRules(parse_rules(self.rules_now()))

        @rule(edit=st.sampled_from([{"retention_value": 9}, {"frequency_value": 3, "frequency_unit": "day"},
                                    {"target": "development"}, {"target": "production"},
                                    {"frequency_value": 12, "frequency_unit": "hour"}]))
        def edited_in_planetscale(self, edit: dict[str, Any]) -> None:
            self.planetscale.dashboard_change("acme", "app-db", POLICY, **edit)

    Interleavings.TestCase.settings = hypothesis_settings(
        max_examples=EXAMPLES, stateful_step_count=int(os.environ.get("FUZZ_STEPS", "20")), deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    Interleavings.TestCase().runTest()
