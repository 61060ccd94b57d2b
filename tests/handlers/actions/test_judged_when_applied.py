"""A change is judged again when it applies, under the rules and the policy as they are then: the ways an
approval could be outflanked, each tried through Bolt's real pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time

from access_rules import by_target
from approval_helpers import ALICE, BOB, CAROL, DAVE, PROD, RULES, approvals_bot, ask, latest_view, request_id
from conftest import SIGNING_SECRET, Bot
from slack_bolt import BoltRequest

from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.store import Store
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack_requests import signed_headers
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2 = "U0LEAD0002"
DEV = "bp03devday"
# Development: bob asks, lead2 approves (one approval); production: alice asks, carol approves.
SPLIT_RULES = by_target(production=(["U0ALICE001"], ["U0CAROL001"], 1),
                        development=(["U0BOB00001"], ["U0LEAD0002"], 1))


def policy(planetscale: PlanetScaleState, policy_id: str = PROD) -> dict[str, object]:
    return planetscale.policies[("acme", "app-db")][policy_id]


def state_of(bot: Bot, message_rid: str) -> RequestState:
    request = bot.deps.store.get_request(message_rid)
    assert request is not None
    return request.state


def test_1_a_request_does_not_follow_its_policy_into_a_stricter_target(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(SPLIT_RULES)
    approvals_bot.command(f"update acme/app-db {DEV} retention=5d", user=BOB)
    message = next(e for e in approvals_bot.slack.events if e.kind == "message")
    policy(planetscale, DEV)["target"] = "production"  # moved in the dashboard before anyone approved
    reply = approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert planetscale.calls("PATCH") == []
    assert "moved from development to production" in reply.all_text()
    assert "moved from development to production" in latest_view(approvals_bot, message)
    assert state_of(approvals_bot, request_id(message)) is RequestState.FAILED
    failed = [e for e in approvals_bot.audit.all() if e.action == "failed"]
    assert failed and "moved from development to production" in str(failed[-1].detail)


def test_2a_a_rule_tightened_after_the_request_needs_its_new_count(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message = ask(approvals_bot)
    approvals_bot.use_rules(RULES.format(approvals=2))
    first = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "1 of 2" in first.all_text()
    shown = latest_view(approvals_bot, message)
    assert "1 of 2" in shown and "now ask for 2 approvals" in shown and "1 more is needed" in shown
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert len(planetscale.calls("PATCH")) == 1


def test_2b_a_requester_removed_from_the_editors_has_their_request_closed(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message = ask(approvals_bot)
    approvals_bot.use_rules(RULES.format(approvals=1).replace('editors = ["@dba-team"]', 'editors = ["U0BOB00001"]'))
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "may no longer make this change" in reply.all_text()
    assert "may no longer make this change" in latest_view(approvals_bot, message)
    assert state_of(approvals_bot, request_id(message)) is RequestState.FAILED


def test_2c_an_approver_removed_since_approving_no_longer_counts(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=2))
    message = ask(approvals_bot)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    approvals_bot.use_rules(RULES.format(approvals=2).replace('approvers = ["@dba-leads"]',
                                                              'approvers = ["U0LEAD0002", "U0LEAD0003"]'))
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert planetscale.calls("PATCH") == []
    shown = latest_view(approvals_bot, message)
    assert "no longer counted: <@U0CAROL001>" in shown and "1 more is needed" in shown
    approvals_bot.click(APPROVE, request_id(message), user="U0LEAD0003", message=message)
    assert len(planetscale.calls("PATCH")) == 1


def click_together(bot: Bot, bodies: list[str]) -> None:
    start = threading.Barrier(len(bodies))

    def click(body: str) -> None:
        start.wait()
        bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))

    threads = [threading.Thread(target=click, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bot.executor.wait_idle(60)


def test_3_two_requests_on_one_policy_approved_together_apply_one_and_refuse_the_other(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    first = ask(approvals_bot, f"update acme/app-db {PROD} retention=1d")
    approvals_bot.slack.events.clear()
    second = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    # The PATCH that goes first is slow: without a lock the other request reads the old retention meanwhile.
    planetscale.add_fault(Fault(delay=0.6, method="PATCH", times=1))
    click_together(approvals_bot, [approvals_bot.click_body(APPROVE, request_id(first), user=CAROL, message=first),
                                   approvals_bot.click_body(APPROVE, request_id(second), user=LEAD2,
                                                            message=second)])
    patches = [c.body for c in planetscale.calls("PATCH")]
    assert len(patches) == 1
    states = sorted(state_of(approvals_bot, request_id(m)) for m in (first, second))
    assert states == [RequestState.APPLIED, RequestState.FAILED]
    failed = next(m for m in (first, second) if state_of(approvals_bot, request_id(m)) is RequestState.FAILED)
    assert "retention_value is now" in str(approvals_bot.deps.store.get_request(request_id(failed)).detail)  # type: ignore[union-attr]


def test_4_the_sweep_does_not_send_again_while_a_slow_patch_is_in_flight(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    changes = approvals_bot.deps.changes
    now = [time.time()]
    changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    message = ask(approvals_bot)
    answered = threading.Event()  # PlanetScale holds the PATCH until the sweep has looked
    planetscale.add_fault(Fault(until=answered, method="PATCH", times=1))
    body = approvals_bot.click_body(APPROVE, request_id(message), user=CAROL, message=message)
    clicking = threading.Thread(target=lambda: approvals_bot.app.dispatch(
        BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body))))
    clicking.start()
    try:
        deadline = time.monotonic() + 60
        while not planetscale.calls("PATCH"):
            assert time.monotonic() < deadline, "the PATCH was never sent"
            time.sleep(0.01)
        now[0] += 120  # longer than the old 60 s "stuck" time, shorter than one PATCH's worst case
        assert changes.recover() == []
        assert state_of(approvals_bot, request_id(message)) is RequestState.APPLYING  # still in flight
    finally:
        answered.set()
    clicking.join(60)
    assert approvals_bot.executor.wait_idle(30)
    assert len(planetscale.calls("PATCH")) == 1
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED


def test_4_the_lease_outlasts_the_clients_worst_case() -> None:
    client = PlanetScaleClient("id", "secret", "http://127.0.0.1:9/v1")
    try:
        # 4 tries × 35 s of timeouts, 3 waits of up to 20 s: a PATCH can take this long before it gives up.
        assert client.worst_case_seconds() >= 63.5
        assert client.worst_case_seconds() == 4 * 35 + 3 * 20
    finally:
        client.close()


def test_4_lease_seconds_is_derived_from_the_client(approvals_bot: Bot) -> None:
    changes = approvals_bot.deps.changes
    assert changes.lease_seconds > 2 * changes.planetscale.worst_case_seconds()


def test_5_an_approved_change_is_checked_again_as_a_whole(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=1d")
    policy(planetscale).update(frequency_value=3, frequency_unit="day")  # changed elsewhere meanwhile
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "no longer holds" in reply.all_text() and "kept 1 day but taken every 3 days" in reply.all_text()
    assert state_of(approvals_bot, request_id(message)) is RequestState.FAILED


def test_6_a_refused_revert_is_recorded_and_reads_nothing(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)  # development: at once
    applied = next(e for e in approvals_bot.slack.events if e.kind == "message")
    revert = next(e for b in applied.blocks for e in b.get("elements", []) if e.get("action_id") == REVERT)
    reads = len(planetscale.calls("GET"))
    reply = approvals_bot.click(REVERT, revert["value"], user=DAVE, message=applied)
    assert len(planetscale.calls("GET")) == reads, "PlanetScale was read before the outsider was refused"
    assert "not named" in reply.all_text() or "may not change" in reply.all_text()
    refused = [e for e in approvals_bot.audit.all() if e.action == "refused"]
    assert [e.actor for e in refused] == [DAVE]
    assert len(planetscale.calls("PATCH")) == 1


def test_7_an_unexpected_failure_at_confirm_is_told_in_the_modal(approvals_bot: Bot,
                                                                 planetscale: PlanetScaleState) -> None:
    approvals_bot.command(f"edit acme/app-db {DEV}", user=ALICE)
    form = approvals_bot.current_view()
    preview = approvals_bot.submit(form, {"retention_value": "5"}).ack["view"]
    preview["id"] = form["id"]  # Slack keeps the view's ID across response_action: update
    approvals_bot.deps.changes.store = Store("postgresql://nobody@127.0.0.1:1/none")  # the database is gone
    approvals_bot.submit(preview)
    final = approvals_bot.current_view()
    text = json.dumps(final)
    assert "Not applied" in text and "Something went wrong inside the bot" in text and "Applying" not in text
    assert planetscale.calls("PATCH") == []


def test_8_help_offers_changes_only_to_those_the_rules_let_change(approvals_bot: Bot) -> None:
    approvals_bot.use_rules('[[rules]]\norganizations = ["acme"]\ndatabases = ["exchange-db"]\n'
                            'editors = ["U0ALICE001"]\napprovers = ["U0CAROL001"]\napprovals = 1\n')
    approver = approvals_bot.command("help", user=CAROL).all_text()
    assert "exchange-db" in approver and "Keys for update" not in approver and "approve" in approver
    editor = approvals_bot.command("help", user=ALICE).all_text()
    assert "Keys for update" in editor


def test_9_approve_from_the_pending_list_works_wherever_it_is_shown(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    ask(approvals_bot)
    listed = approvals_bot.command("pending", user=CAROL, channel="C0RANDOM01")
    shown = listed.all_text()
    assert "Approve" in shown and "<#C0DBAOPS01>" in shown
    rid = next(el["value"] for e in listed.private for b in e.blocks for el in b.get("elements", [])
               if el.get("action_id") == APPROVE)
    approvals_bot.click(APPROVE, rid, user=CAROL, channel="D0CAROLDM1")
    assert len(planetscale.calls("PATCH")) == 1
    assert state_of(approvals_bot, rid) is RequestState.APPLIED


def test_an_ambiguous_patch_failure_is_checked_against_planetscale(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    changes = approvals_bot.deps.changes
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")

    def landed_then_lost(*_: object, **__: object) -> None:
        policy(planetscale).update(retention_value=5, retention_unit="day")
        from bot.domain.ports import Unreachable

        raise Unreachable("PlanetScale did not answer in time for acme/app-db: the change may or may not have "
                          "been applied; `show` it to check.")

    changes.planetscale = type("Lossy", (), {"update_policy": staticmethod(landed_then_lost),
                                             "worst_case_seconds": changes.planetscale.worst_case_seconds})()
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert state_of(approvals_bot, request_id(message)) is RequestState.APPLIED
    assert "Not applied" not in reply.all_text()
    actions = [e.action for e in approvals_bot.audit.all() if e.request_id == request_id(message)]
    assert actions[-2:] == ["sending", "applied"]


def test_a_directory_hiccup_at_approval_keeps_the_request_open(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message = ask(approvals_bot)
    from bot.domain.group_directory import DirectoryError

    groups = approvals_bot.deps.access.groups
    real = groups.members
    calls = {"n": 0}

    def flaky(principal: str) -> frozenset[str]:
        calls["n"] += 1
        if calls["n"] > 1:  # the clicker is checked; the look-ups for the judgement that follows fail
            raise DirectoryError("usergroups.list: ratelimited")
        return real(principal)

    groups.members = flaky  # type: ignore[method-assign]
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    groups.members = real  # type: ignore[method-assign]
    assert planetscale.calls("PATCH") == []
    assert state_of(approvals_bot, request_id(message)) is RequestState.PENDING
    assert "click Approve again" in reply.all_text()
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert len(planetscale.calls("PATCH")) == 1


def test_a_revert_of_a_change_not_applied_is_refused_and_recorded(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message = ask(approvals_bot)  # pending
    reply = approvals_bot.click(REVERT, request_id(message), user=DAVE, message=message)
    assert "Only an applied change can be reverted, and this one is waiting for approval" in reply.all_text()
    refused = [e for e in approvals_bot.audit.all() if e.action == "refused"]
    assert [(e.actor, e.request_id) for e in refused] == [(DAVE, request_id(message))]
    assert planetscale.calls("PATCH") == []
