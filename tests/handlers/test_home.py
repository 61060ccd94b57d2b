"""The App Home: what waits for the person, their own requests, recent changes and their rules; Approve there
goes through the same change path; Homes are published again when a request concerning them moves."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import replace

import pytest
from approval_helpers import ALICE, CAROL, DAVE, PROD, approvals_bot, ask, request_id, thread_of
from conftest import SIGNING_SECRET, Bot
from home_helpers import click_on_home, home_buttons, open_home
from slack_bolt import BoltRequest

from bot.domain.audit import AuditEvent
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.emulators.slack_requests import app_home_opened_body, signed_headers
from handlers.blocks import APPROVE, CANCEL, REJECT

__all__ = ["approvals_bot"]  # a fixture, used by name


def test_carol_approves_alices_request_on_her_home(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    open_home(approvals_bot, ALICE)
    message = ask(approvals_bot)
    home = open_home(approvals_bot, CAROL)
    shown = json.dumps(home["blocks"])
    assert "Waiting for your approval" in shown and "<@U0ALICE001> asks to change" in shown
    assert home_buttons(home)[:2] == [(APPROVE, request_id(message)), (REJECT, request_id(message))]
    click_on_home(approvals_bot, CAROL, APPROVE, request_id(message))
    assert len(planetscale.calls("PATCH")) == 1
    assert thread_of(approvals_bot, message)[-1].startswith(":white_check_mark: Applied")
    after = json.dumps(approvals_bot.slack.homes[CAROL]["blocks"])
    assert "Applied." in after and "Nothing waits for you." in after
    assert "Latest changes you may see" in after and "> changed " in after
    alices = json.dumps(approvals_bot.slack.homes[ALICE]["blocks"])  # published again without opening it
    assert "You have no open requests." in alices


def test_homes_opened_lately_are_published_when_a_request_is_made_and_show_the_requesters_cancel(
        approvals_bot: Bot) -> None:
    open_home(approvals_bot, ALICE)
    open_home(approvals_bot, CAROL)
    message = ask(approvals_bot)
    assert (CANCEL, request_id(message)) in home_buttons(approvals_bot.slack.homes[ALICE])
    assert (APPROVE, request_id(message)) in home_buttons(approvals_bot.slack.homes[CAROL])
    rules = json.dumps(approvals_bot.slack.homes[ALICE]["blocks"])
    assert "change (with 1 approval)" in rules and "<#C0DBAOPS01>" in rules


def test_a_refusal_on_the_home_is_shown_there(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    message = ask(approvals_bot)
    open_home(approvals_bot, DAVE)
    assert home_buttons(approvals_bot.slack.homes[DAVE]) == []  # nothing for someone no rule names
    click_on_home(approvals_bot, DAVE, APPROVE, request_id(message))  # a forged click
    assert planetscale.calls("PATCH") == []
    assert ":warning:" in json.dumps(approvals_bot.slack.homes[DAVE]["blocks"])


def test_homes_asked_for_while_slack_is_slow_are_published_once_each_and_show_every_step(
        approvals_bot: Bot) -> None:
    # Three requests made together: each asks for Carol's Home; while the first publish waits on Slack, the
    # others' are folded into one, built when its turn comes, so it shows all three. Slack answers that first
    # publish once the three requests are done and only the publish is left.
    open_home(approvals_bot, CAROL)
    opened = len(approvals_bot.slack.events)
    slack_answers = threading.Event()
    approvals_bot.slack.add_fault(MethodFault("views.publish", until=slack_answers))
    for days in (5, 6, 8):
        body = approvals_bot.command_body(f"update acme/app-db {PROD} retention={days}d frequency=12h")
        approvals_bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))
    deadline = time.monotonic() + 60
    while len(requests := [request_id(e) for e in approvals_bot.slack.events if e.kind == "message"
                           and e.thread_ts is None and "request_approve" in json.dumps(e.blocks)]) < 3 \
            or approvals_bot.executor.pending > 1:
        assert time.monotonic() < deadline, (requests, approvals_bot.executor.pending)
        time.sleep(0.01)
    slack_answers.set()
    assert approvals_bot.executor.wait_idle(timeout=60)
    carols = [e for e in approvals_bot.slack.events[opened:] if e.kind == "home" and e.user == CAROL]
    assert len(carols) == 2
    carols = home_buttons(approvals_bot.slack.homes[CAROL])
    assert {value for action, value in carols if action == APPROVE} == set(requests)


def test_an_older_change_shows_behind_many_newer_ones_the_person_may_not_see(approvals_bot: Bot) -> None:
    store = approvals_bot.deps.store
    store.record(AuditEvent(action="applied", actor=ALICE, organization="acme", database="app-db",
                            policy_id="bp01prod12h", policy_name="Visible one", before={"target": "production"},
                            after={"target": "production"}, channel="C0DBAOPS01", at="2026-01-01T00:00:00+00:00"))
    for n in range(40):  # newer, in an organization no rule names
        store.record(AuditEvent(action="applied", actor=ALICE, organization="elsewhere", database="db",
                                policy_id=f"bp{n:02d}", policy_name=f"Hidden {n}", before={"target": "production"},
                                after={"target": "production"}, channel="C0DBAOPS01",
                                at=f"2026-02-01T00:{n:02d}:00+00:00"))
    shown = json.dumps(open_home(approvals_bot, CAROL)["blocks"])
    assert "Visible one" in shown and "Hidden" not in shown


def test_a_step_finishing_while_the_bot_shuts_down_still_publishes_the_homes_and_says_nothing_went_wrong(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    # SIGTERM while an approval is being applied: the executor takes no new work, and the work already acked
    # finishes (bot/runtime/cli.py). The Homes that step asks for cannot be left to a worker that never starts.
    open_home(approvals_bot, ALICE)
    message = ask(approvals_bot)
    # PlanetScale answers the PATCH once the shutdown has begun: the step finishes during it, however slow the
    # machine.
    answered = threading.Event()
    planetscale.add_fault(Fault(until=answered, method="PATCH", times=1))
    body = approvals_bot.click_body(APPROVE, request_id(message), user=CAROL, message=message)
    approvals_bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))
    deadline = time.monotonic() + 60
    while not planetscale.calls("PATCH"):
        assert time.monotonic() < deadline, "the PATCH was never sent"
        time.sleep(0.01)
    _, cursor = approvals_bot.slack.events_since(0)
    stopping = threading.Thread(target=approvals_bot.executor.shutdown, kwargs={"wait": True})
    stopping.start()
    try:
        while not approvals_bot.executor._stopping.is_set():
            assert time.monotonic() < deadline, "the shutdown never began"
            time.sleep(0.01)
        assert not [t for t in thread_of(approvals_bot, message) if t.startswith(":white_check_mark: Applied")]
    finally:
        answered.set()
    stopping.join(60)
    assert not stopping.is_alive(), "the shutdown never ended"
    after, _ = approvals_bot.slack.events_since(cursor)
    told = " ".join(e.text for e in after) + json.dumps([e.blocks for e in after])
    assert "Something went wrong" not in told
    assert thread_of(approvals_bot, message)[-1].startswith(":white_check_mark: Applied")
    assert "You have no open requests." in json.dumps(approvals_bot.slack.homes[ALICE]["blocks"])


def test_a_persons_requests_are_shown_however_many_others_are_pending(approvals_bot: Bot) -> None:
    # Many requests wait elsewhere (another organization, older): Alice's own still shows, with its Cancel.
    message = ask(approvals_bot)
    mine = approvals_bot.deps.store.get_request(request_id(message))
    assert mine is not None
    for n in range(250):
        approvals_bot.deps.store.add_request(replace(
            mine, id=str(uuid.uuid4()), organization="globex", requester=DAVE, message_channel=None,
            message_ts=None, created_at=mine.created_at - 1000 + n, updated_at=mine.created_at - 1000 + n))
    listed = approvals_bot.command("pending", user=ALICE)
    assert (CANCEL, mine.id) in [(e["action_id"], e["value"]) for m in listed.private for b in m.blocks
                                 for e in b.get("elements", []) if e.get("type") == "button"]
    assert (CANCEL, mine.id) in home_buttons(open_home(approvals_bot, ALICE))
    assert (APPROVE, mine.id) in home_buttons(open_home(approvals_bot, CAROL))


def test_the_answer_to_a_click_on_the_home_is_not_wiped_by_a_publish_still_due(approvals_bot: Bot) -> None:
    # Carol's Home is due (a request was just made) while Slack is slow publishing Alice's; Carol rejects the
    # request on her Home meanwhile: her answer stays on top, however the publishes line up.
    open_home(approvals_bot, ALICE)
    open_home(approvals_bot, CAROL)
    approvals_bot.slack.add_fault(MethodFault("views.publish", delay=3.0))
    body = approvals_bot.command_body(f"update acme/app-db {PROD} retention=5d frequency=12h")
    approvals_bot.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))
    deadline = time.monotonic() + 60
    while not (posted := [e for e in approvals_bot.slack.events
                          if e.kind == "message" and "request_approve" in json.dumps(e.blocks)]):
        assert time.monotonic() < deadline, "the request was never posted"
        time.sleep(0.01)
    message = posted[0]
    click_on_home(approvals_bot, CAROL, REJECT, request_id(message))
    assert "Rejected" in json.dumps(approvals_bot.slack.homes[CAROL]["blocks"][:2])


def test_a_home_slack_refuses_once_is_replaced_by_one_saying_so(
        approvals_bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    """views.publish's answer is read for nothing but its failure: an error answer, or one of no shape Slack gives,
    is logged naming it, and the person who opened their Home sees why it is not shown, not an empty tab."""
    for answer in ({"ok": False, "error": "invalid_blocks"}, {"ok": False}, [1], {"ok": "yes"}):
        approvals_bot.slack.add_fault(MethodFault("views.publish", body=answer, times=1))
        caplog.clear()
        home = json.dumps(open_home(approvals_bot, ALICE)["blocks"])
        error = answer.get("error", "no error named") if isinstance(answer, dict) and \
            answer.get("ok") is False else "unreadable_answer"
        assert ":warning:" in home and "could not be shown" in home and error in home, (answer, home)
        assert f"could not publish the App Home of {ALICE}: Slack answered views.publish with {error}" in caplog.text
        assert not [r for r in caplog.records if r.exc_info], caplog.text  # no listener failed


def test_a_home_slack_keeps_refusing_is_logged_and_fails_no_listener(
        approvals_bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    approvals_bot.slack.add_fault(MethodFault("views.publish", body={"ok": False, "error": "internal_error"},
                                              times=None))
    body = app_home_opened_body(user_id=ALICE, event_id="Ev00000001")
    approvals_bot.send(body, signed_headers(SIGNING_SECRET, body, content_type="application/json"))
    assert approvals_bot.executor.wait_idle(timeout=30)
    assert caplog.text.count("Slack answered views.publish with internal_error") == 2, caplog.text
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert ALICE not in approvals_bot.slack.homes
