"""One judge, on what was read under the lease (issue "One judge"): each way the two-person rule gave way, tried
through Bolt's real pipeline on SQLite and PostgreSQL (and across two instances on one PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from access_rules import admin_asks, guardrail, production_in_db_ops
from approval_helpers import ALICE, BOB, CAROL, PROD, RULES, approvals_bot, ask, request_id, second_instance, sweep
from conftest import SIGNING_SECRET, Bot
from slack_bolt import BoltRequest

from bot.domain.change_requests import RequestState
from bot.domain.ports import Unreachable
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackEvent, SlackUser
from bot.emulators.slack_requests import signed_headers
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"
LEAD2 = "U0LEAD0002"
RANDOM = "C0RANDOM01"
# Production only in #db-ops, with carol's approval; development anywhere, at once, by alice or bob.
MOVE_RULES = production_in_db_ops(["U0ALICE001", "U0BOB00001"], ["U0CAROL001"], 0)


def dispatch(bot: Bot, body: str) -> None:
    bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))


def state_of(bot: Bot, rid: str) -> RequestState:
    request = bot.deps.store.get_request(rid)
    assert request is not None
    return request.state


def wait_for_patch(planetscale: PlanetScaleState, count: int = 1) -> None:
    deadline = time.monotonic() + 60
    while len(planetscale.calls("PATCH")) < count:
        assert time.monotonic() < deadline, "the PATCH was never sent"
        time.sleep(0.01)


def no_approval_change_during_a_move(approver_bot: Bot, asker_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice's approved move of a development policy to production is being sent when bob, in #random, asks a
    change that needs no approval on development: it must not reach the now-production policy."""
    approver_bot.use_rules(MOVE_RULES)
    asker_bot.use_rules(MOVE_RULES)
    approver_bot.command(f"update acme/app-db {DEV} target=production", user=ALICE)
    [message] = [e for e in approver_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel == "C0DBAOPS01"]
    # PlanetScale answers the move's PATCH once bob's change has found the policy's lease taken.
    answered, bob_waits = threading.Event(), threading.Event()
    planetscale.add_fault(Fault(until=answered, method="PATCH", times=1))
    clicking = threading.Thread(target=dispatch, args=(approver_bot, approver_bot.click_body(
        APPROVE, request_id(message), user=CAROL, message=message)))
    clicking.start()
    store = asker_bot.deps.store
    real_claim = store.claim_for_applying

    def claim(*args: Any, **kwargs: Any) -> Any:
        got = real_claim(*args, **kwargs)
        if got is None:
            bob_waits.set()
        return got

    try:
        wait_for_patch(planetscale)
        store.claim_for_applying = claim  # type: ignore[method-assign]
        dispatch(asker_bot, asker_bot.command_body(f"update acme/app-db {DEV} retention=9d", user=BOB,
                                                   channel=RANDOM))
        assert bob_waits.wait(60), "bob's change never met the move's lease"
    finally:
        answered.set()
    clicking.join(60)
    assert approver_bot.executor.wait_idle(60) and asker_bot.executor.wait_idle(60)
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production"
    assert policy["retention_value"] == 3, "bob's change reached the production policy without approval"
    assert [c.body for c in planetscale.calls("PATCH")] == [{"target": "production"}]
    said = "\n".join(e.text + str(e.blocks) for e in asker_bot.slack.events if e.channel in (RANDOM, None)
                     or e.kind in ("response", "ephemeral"))
    assert "changed the backup policy" not in said
    # bob's change waits for the policy's lease, then is read under it: production, refused from #random.
    bobs = [e for e in asker_bot.audit.all() if e.actor == BOB]
    assert bobs and all(e.action != "applied" for e in bobs)
    assert [(e.action, (e.before or {}).get("target")) for e in bobs] == [("refused", "production")]


def test_item1_a_change_needing_no_approval_is_judged_on_the_policy_read_under_its_lease(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    no_approval_change_during_a_move(approvals_bot, approvals_bot, planetscale)


def test_item1_across_two_instances_on_one_postgresql(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    no_approval_change_during_a_move(approvals_bot, second_instance, planetscale)


TWO_GROUP_RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
editors = ["U0ALICE001"]
approvers = ["@dba-leads", "@security"]
approvals = { "@security" = 1 }

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["U0ALICE001"]
approvers = ["@dba-leads", "@security"]
approvals = { "@dba-leads" = 1 }
"""
SECURITY = "U0SECURE01"


def test_item2_a_move_between_targets_needs_both_rules_groups(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.slack.add_user(SlackUser(SECURITY, "sec", "Sec Urity", "sec@acme.example"))
    approvals_bot.slack.add_usergroup("S0SECURITY", "security", [SECURITY])
    approvals_bot.use_rules(TWO_GROUP_RULES)
    approvals_bot.command(f"update acme/app-db {DEV} target=production", user=ALICE)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None]
    assert "S0SECURITY" in str(message.blocks) and "S0DBALEAD1" in str(message.blocks)
    first = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], "applied with @dba-leads alone; the production rule asks @security"
    assert "1 from @security" in first.all_text()
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING
    approvals_bot.click(APPROVE, request_id(message), user=SECURITY, message=message)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"target": "production"}]
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED



def click_together(bot: Bot, bodies: list[str]) -> None:
    start = threading.Barrier(len(bodies))

    def click(body: str) -> None:
        start.wait()
        dispatch(bot, body)

    threads = [threading.Thread(target=click, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bot.executor.wait_idle(60)


def test_item3_two_approvals_clicked_together_that_complete_a_request_apply_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=2))
    for n, days in enumerate((5, 6, 7), start=1):
        approvals_bot.slack.events.clear()
        message = ask(approvals_bot, f"update acme/app-db {PROD} retention={days}d")
        click_together(approvals_bot, [approvals_bot.click_body(APPROVE, request_id(message), user=who,
                                                                message=message) for who in (CAROL, LEAD2)])
        assert len(planetscale.calls("PATCH")) == n, "two approvals together each counted only their own"
        assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED


ROLE_RULES = admin_asks(1)


def test_item4_a_passing_failure_to_read_planetscale_members_at_approval_closes_nothing(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(ROLE_RULES)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    planetscale.add_fault(Fault(status=503, path_contains="/members", times=None))
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING, "a failed look-up closed it"
    assert "could not be checked" in reply.all_text() and "click Approve again" in reply.all_text()
    assert not [e for e in approvals_bot.audit.all() if e.action == "failed" and e.request_id]
    planetscale.faults.clear()
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 5, "retention_unit": "day"}]
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED


def test_item6_an_unconfirmed_patch_keeps_its_policy_until_it_is_settled(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    changes = approvals_bot.deps.changes
    now = [time.time()]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    first = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    real = changes.planetscale

    def landed_then_lost(*_: object, **__: object) -> None:
        planetscale.dashboard_change("acme", "app-db", PROD, retention_value=5, retention_unit="day")
        planetscale.add_fault(Fault(status=503, method="GET", times=None))  # and PlanetScale cannot be read
        raise Unreachable("PlanetScale did not answer in time for acme/app-db: the change may or may not have "
                          "been applied; `show` it to check.")

    changes.planetscale = type("Lossy", (), {"update_policy": staticmethod(landed_then_lost),
                                             "worst_case_seconds": real.worst_case_seconds})()
    approvals_bot.click(APPROVE, request_id(first), user=CAROL, message=first)
    changes.planetscale = real
    planetscale.faults.clear()
    assert state_of(approvals_bot, request_id(first)) is RequestState.APPLYING
    approvals_bot.slack.events.clear()
    second = ask(approvals_bot, f"update acme/app-db {PROD} retention=1d")
    approvals_bot.click(APPROVE, request_id(second), user=LEAD2, message=second)
    assert planetscale.calls("PATCH") == [], "a change was sent on top of one whose outcome nobody knew"
    assert state_of(approvals_bot, request_id(second)) is RequestState.APPROVED
    now[0] += 120
    sweep(approvals_bot)
    assert state_of(approvals_bot, request_id(first)) is RequestState.APPLIED
    assert not [e for e in approvals_bot.audit.all() if e.request_id == request_id(first) and e.action == "failed"]
    sweep(approvals_bot)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 1, "retention_unit": "day"}]
    assert state_of(approvals_bot, request_id(second)) is RequestState.APPLIED


FLOOR_3D = guardrail("production", min_retention="3d", override_approvals=1)


def test_item7_the_bots_revert_wording_never_counts_as_a_persons_override_reason(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    applied = ask(approvals_bot, f'update acme/app-db {PROD} retention=5d reason="cost"')
    approvals_bot.click(APPROVE, request_id(applied), user=CAROL, message=applied)
    revert = next(e for b in latest_blocks(approvals_bot, applied) for e in b.get("elements", [])
                  if e.get("action_id") == REVERT)
    approvals_bot.slack.events.clear()
    approvals_bot.click(REVERT, revert["value"], user=BOB, message=applied)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel == "C0DBAOPS01"]
    approvals_bot.use_rules(RULES.format(approvals=1) + FLOOR_3D)  # the revert to 2 days now breaks it
    reply = approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert len(planetscale.calls("PATCH")) == 1, "the bot's revert wording passed for a person's reason"
    assert "reason" in reply.all_text() and "guardrail 1" in reply.all_text()
    assert state_of(approvals_bot, request_id(message)) is RequestState.FAILED


def latest_blocks(bot: Bot, message: SlackEvent) -> list[dict[str, Any]]:
    shown = [e for e in bot.slack.events if e.ts == message.ts and e.kind in ("message", "update")]
    return list(shown[-1].blocks)


def test_also_two_revert_clicks_make_one_request(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    applied = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(applied), user=CAROL, message=applied)
    revert = next(e for b in latest_blocks(approvals_bot, applied) for e in b.get("elements", [])
                  if e.get("action_id") == REVERT)
    approvals_bot.slack.events.clear()
    approvals_bot.click(REVERT, revert["value"], user=BOB, message=applied)
    again = approvals_bot.click(REVERT, revert["value"], user=ALICE, message=applied)
    reverts = [r for r in approvals_bot.deps.store.requests() if r.revert_of == request_id(applied)]
    assert len(reverts) == 1, "two Revert clicks made two pending requests"
    assert "already asked by <@U0BOB00001>" in again.all_text()
    assert len([e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                and e.channel == "C0DBAOPS01"]) == 1


def test_also_a_request_nobody_but_its_requester_could_approve_is_refused_when_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1).replace('approvers = ["@dba-leads"]\napprovals',
                                                              'approvers = ["U0ALICE001"]\napprovals'))
    reply = approvals_bot.command(f"update acme/app-db {PROD} retention=5d", user=ALICE)
    assert "nobody but you" in reply.all_text()
    assert approvals_bot.deps.store.requests() == [], "a request nobody could approve was left to expire"
    assert reply.public == [] and planetscale.calls("PATCH") == []
    refused = [e for e in approvals_bot.audit.all() if e.action == "refused"]
    assert [e.actor for e in refused] == [ALICE]


def test_also_progress_lines_count_only_approvals_that_still_count(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=2))
    message = ask(approvals_bot)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    approvals_bot.use_rules(RULES.format(approvals=2).replace('approvers = ["@dba-leads"]',
                                                              'approvers = ["U0LEAD0002", "U0LEAD0003"]'))
    reply = approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    shown = json.dumps(latest_blocks(approvals_bot, message))
    assert "*Approvals:* 1 of 2" in shown, "carol's approval, which no longer counts, is counted"
    assert "(1 of 2)" in reply.all_text() and "(2 of 2)" not in reply.all_text()
