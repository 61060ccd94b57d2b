"""Approvals through Bolt, on SQLite and PostgreSQL: requests, clicks, the two-person rule, exactly once."""

from __future__ import annotations

import json
import threading

import sqlalchemy as sa
from approval_helpers import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    LEADS,
    PROD,
    RULES,
    approvals_bot,
    ask,
    latest_view,
    request_id,
    request_message,
)
from conftest import CHANNEL, Bot

from bot.adapters.schema import change_requests
from bot.adapters.store import Store
from bot.domain.audit import AuditEvent
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE, CANCEL, REJECT, REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

def test_a_production_change_waits_for_approval_and_says_why(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    reply = approvals_bot.command(f'update acme/app-db {PROD} retention=1d reason="cost"', user=ALICE)
    assert planetscale.calls("PATCH") == []
    message = request_message(approvals_bot)
    shown = json.dumps(message.blocks, ensure_ascii=False)
    for part in ("asks to change", "cost", "~2 days~ → *1 day*", "production backups", "keeps backups for less time",
                 "a required system policy", "0 of 1", "<!subteam^S0DBALEAD1>", "Approve", "Reject", "Cancel"):
        assert part in shown, part
    reject = next(e for b in message.blocks for e in b.get("elements", []) if e.get("action_id") == REJECT)
    assert reject["style"] == "danger" and reject["confirm"]["confirm"]["text"] == "Reject"
    assert "needs 1 approval" in reply.all_text()


def test_the_requester_and_a_non_approver_cannot_approve(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    own = approvals_bot.click(APPROVE, request_id(message), user=ALICE, message=message)
    assert "Nobody approves" in own.all_text()
    other = approvals_bot.click(APPROVE, request_id(message), user=BOB, message=message)
    assert "lets only its approvers" in other.all_text()
    assert planetscale.calls("PATCH") == []
    actions = [e.action for e in approvals_bot.audit.all()]
    assert actions == ["requested", "refused", "refused"]


def test_an_approval_applies_once_and_the_message_tells_the_whole_story(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message = ask(approvals_bot)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 1, "retention_unit": "day",
                                                             "frequency_value": 12, "frequency_unit": "hour"}]
    final = latest_view(approvals_bot, message)
    assert "changed the backup policy" in final and "1 of 1 (<@U0CAROL001>)" in final and "Revert" in final
    again = approvals_bot.click(APPROVE, request_id(message), user="U0LEAD0002", message=message)
    assert "already applied" in again.all_text() and len(planetscale.calls("PATCH")) == 1
    history = approvals_bot.command("history acme/app-db", user=CAROL).all_text()
    for words in ("> asked to change ", "<@U0CAROL001> approved the change to ", "<@U0ALICE001> changed "):
        assert words in history, history
    assert "(needs 1 approval)" in history and "(s)" not in history


def test_two_approvals_are_counted_once_each(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(RULES.format(approvals=2))
    message = ask(approvals_bot)
    first = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert "1 of 2" in first.all_text()
    twice = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert "already approved" in twice.all_text()
    assert planetscale.calls("PATCH") == [] and "1 of 2" in latest_view(approvals_bot, message)
    approvals_bot.click(APPROVE, request_id(message), user="U0LEAD0002", message=message)
    assert len(planetscale.calls("PATCH")) == 1


def test_four_simultaneous_approvals_send_exactly_one_patch(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    bodies = [approvals_bot.click_body(APPROVE, request_id(message), user=u, message=message) for u in LEADS]
    start = threading.Barrier(len(bodies))
    results: list[int] = []

    def click(body: str) -> None:
        from conftest import SIGNING_SECRET
        from slack_bolt import BoltRequest

        from bot.emulators.slack_requests import signed_headers

        start.wait()
        results.append(approvals_bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET,
                                                                                                  body))).status)

    threads = [threading.Thread(target=click, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert approvals_bot.executor.wait_idle(60)
    assert results == [200] * 4
    assert len(planetscale.calls("PATCH")) == 1
    assert [e.action for e in approvals_bot.audit.all()].count("applied") == 1


def test_reject_and_cancel(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    approvals_bot.click(REJECT, request_id(message), user=CAROL, message=message)
    assert "Rejected by <@U0CAROL001>" in latest_view(approvals_bot, message)
    late = approvals_bot.click(APPROVE, request_id(message), user="U0LEAD0002", message=message)
    assert "already rejected" in late.all_text()
    approvals_bot.slack.events.clear()
    second = ask(approvals_bot, f"update acme/app-db {PROD} retention=3d")
    not_mine = approvals_bot.click(CANCEL, request_id(second), user=BOB, message=second)
    assert "Only the requester" in not_mine.all_text()
    approvals_bot.click(CANCEL, request_id(second), user=ALICE, message=second)
    assert "Cancelled by <@U0ALICE001>" in latest_view(approvals_bot, second)
    assert planetscale.calls("PATCH") == []


def test_a_change_made_meanwhile_in_planetscale_is_not_overwritten(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message = ask(approvals_bot)
    planetscale.policies[("acme", "app-db")][PROD]["retention_value"] = 14  # someone changed it meanwhile
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "changed in PlanetScale since the request" in reply.all_text()
    assert "retention_value is now 14" in latest_view(approvals_bot, message)


def test_expiry_by_the_sweep_and_clicks_on_expired_requests(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    with approvals_bot.deps.store.engine.begin() as conn:
        conn.execute(sa.update(change_requests).values(expires_at=0))
    from bot.runtime.sweeper import Sweeper
    from handlers.posting import sweep_reporter

    Sweeper(approvals_bot.deps.changes, sweep_reporter(approvals_bot.deps, approvals_bot.app.client)).sweep()
    assert "Expired" in latest_view(approvals_bot, message)
    late = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert "already expired" in late.all_text() and planetscale.calls("PATCH") == []


def test_revert_proposes_the_inverse_under_the_same_rules(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.command("update acme/app-db bp03devday retention=9d", user=ALICE)  # development: at once
    applied = request_message(approvals_bot)
    revert = next(e for b in applied.blocks for e in b.get("elements", []) if e.get("action_id") == REVERT)
    approvals_bot.click(REVERT, revert["value"], user=BOB, message=applied)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"},
                                                            {"retention_value": 3, "retention_unit": "day"}]
    assert "reverts an earlier change" in json.dumps([e.blocks for e in approvals_bot.slack.events])


def test_forged_and_misplaced_clicks_change_nothing(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    forged = approvals_bot.click(APPROVE, "not-a-request", user=CAROL, message=message)
    assert "does not exist" in forged.all_text()
    approvals_bot.click(REVERT, "\x1b[31m" + "x" * 300, user=DAVE, message=message)
    refused = [e for e in approvals_bot.audit.all() if e.action == "refused" and not e.organization]
    assert [(e.actor, e.detail) for e in refused] == [
        (CAROL, "Approve on not-a-request, which this bot does not know"),
        (DAVE, "Revert on '\\x1b[31m" + "x" * 59 + "'…, which this bot does not know")]
    elsewhere = approvals_bot.click(APPROVE, request_id(message), user=BOB, channel="C0RANDOM01", message=message)
    assert "lets only its approvers" in elsewhere.all_text()
    outsider = approvals_bot.click(APPROVE, request_id(message), user=DAVE, message=message)
    assert "lets only its approvers" in outsider.all_text()
    assert planetscale.calls("PATCH") == []


def test_pending_lists_what_each_person_can_act_on(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    ask(approvals_bot)
    assert "Approve" in approvals_bot.command("pending", user=CAROL).all_text()
    mine = approvals_bot.command("pending", user=ALICE).all_text()
    assert "Cancel" in mine and "Approve" not in mine.split("Open requests")[1]
    assert "No open requests" in approvals_bot.command("pending", user=BOB).all_text()


def left_applying(bot: Bot) -> str:
    """A request a crash left applying a while ago (its process died between claiming it and finishing)."""
    rid = request_id(ask(bot))
    store = bot.deps.store
    store.add_approval(rid, CAROL)
    store.transition(rid, ["pending"], "approved")
    store.transition(rid, ["approved"], "applying")
    with store.engine.begin() as conn:
        conn.execute(sa.update(change_requests).values(updated_at=0))
    return rid


def test_a_crash_while_applying_is_finished_from_the_policys_state(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    rid = left_applying(approvals_bot)
    store = approvals_bot.deps.store
    outcomes = approvals_bot.deps.changes.recover()
    assert [o.kind for o in outcomes] == ["applied"]
    assert len(planetscale.calls("PATCH")) == 1
    assert store.get_request(rid).state == "applied"  # type: ignore[union-attr]
    assert approvals_bot.deps.changes.recover() == []


def test_a_crash_after_the_patch_is_recognised_without_patching_again(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    rid = left_applying(approvals_bot)
    store = approvals_bot.deps.store
    request = store.get_request(rid)
    assert request is not None
    store.record(AuditEvent(action="sending", actor=ALICE, organization="acme", database="app-db", policy_id=PROD,
                            request_id=rid, sent=request.changes))  # on the record before the PATCH left
    policy = planetscale.policies[("acme", "app-db")][PROD]
    policy.update(retention_value=1, retention_unit="day")  # the PATCH landed, then the process died
    assert [o.kind for o in approvals_bot.deps.changes.recover()] == ["applied"]
    assert planetscale.calls("PATCH") == []
    assert store.get_request(rid).channel == CHANNEL  # type: ignore[union-attr]


def test_a_database_failure_during_a_click_is_answered_not_swallowed(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    message = ask(approvals_bot)
    approvals_bot.deps.changes.store = Store("postgresql://nobody@127.0.0.1:1/none")
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert "Something went wrong inside the bot; nothing more was done" in reply.all_text()
    assert "The error is in its log under request `" in reply.all_text()
    assert planetscale.calls("PATCH") == []


def test_revert_confirms_what_it_will_do_before_asking(bot: Bot) -> None:
    reply = bot.command("update acme/app-db bp03devday retention=9d")
    [posted] = [e for e in reply.public if e.kind == "message"]
    [revert] = [e for b in posted.blocks for e in b.get("elements", []) if e.get("action_id") == REVERT]
    confirm = revert["confirm"]
    assert confirm["title"]["text"] == "Revert this change?" and confirm["confirm"]["text"] == "Ask to revert"
    assert confirm["text"]["text"].startswith("Put Development daily back as it was: retention 9 days → 3 days.")
    assert "judged by the access rules, guardrails and approvals" in confirm["text"]["text"]
