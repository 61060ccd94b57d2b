"""The keeper that redoes a stopped instance's work, tried as a door: late takeovers still posted and done, only
what Slack signed, an approval not told given twice, and a change applied at once posted once in its channel.
Driven through Bolt's pipeline with the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

import pytest
from approval_helpers import ALICE, CAROL, LEADS, direct_messages, request_id, sweep, swept_later
from conftest import CHANNEL, SIGNING_SECRET, Bot
from instance_ends import Died, dies_after
from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier
from test_inbox import ASKING, PROD, Instances, Killed, acked, inbox_of, instances

from bot.adapters.store.inbox import LEASE_SECONDS
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackState, SlackUser
from bot.emulators.slack_requests import signed_headers
from bot.runtime.app import redo
from bot.runtime.sweeper import INBOX_GIVE_UP, InboxKeeper
from handlers.blocks import APPROVE
from handlers.late_post import POST_GRACE

__all__ = ["instances"]  # a fixture, used by name

# Slack signed it this long before the instance that acked it stopped; Bolt accepts a request for 300 seconds.
SIGNED_AGO = 296


def acked_late(bot: Bot, body: str, slack_clock: list[float]) -> int:
    """A request Slack signed SIGNED_AGO seconds ago (it waited in Slack's queue, or the instance was slow to
    read it): still within Bolt's five minutes, so acked."""
    headers = signed_headers(SIGNING_SECRET, body, timestamp=int(slack_clock[0]) - SIGNED_AGO)
    return bot.app.dispatch(BoltRequest(body=body, headers=headers)).status


def past_five_minutes(slack_clock: list[float]) -> None:
    slack_clock[0] += 300 - SIGNED_AGO + 1.5


def taken_over(bot: Bot) -> None:
    """The instance's keeper takes over the stopped instance's work once its lease has lapsed, wired as `serve`
    wires it (bot/runtime/running.py: the signing secret's verifier, and the executor's `done`)."""
    inbox = inbox_of(bot)
    inbox.ahead = LEASE_SECONDS + 1
    InboxKeeper(inbox, partial(redo, bot.app, verifier=SignatureVerifier(SIGNING_SECRET),
                               done=bot.executor.done, again=True)).step()


def test_a_request_stored_by_an_instance_that_stopped_is_posted_when_its_work_is_taken_over_late(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch, slack_clock: list[float]) -> None:
    """alice asks a change that needs an approval; her instance stores the request and stops before posting it.
    The work is taken over once more than five minutes have passed since Slack signed her command (the only
    instance came back after a few minutes, or the work ran that long): the request must still reach its
    approvers, or alice be told, not wait unseen until it expires."""
    stopping, alive = instances.start(rules=ASKING), instances.start(rules=ASKING)
    dies_after(monkeypatch, stopping.deps.store, "add_request")
    assert acked_late(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE),
                      slack_clock) == 200
    stopping.executor.wait_idle(timeout=30)
    [request] = alive.deps.store.requests([RequestState.PENDING])
    past_five_minutes(slack_clock)
    taken_over(alive)
    assert alive.executor.wait_idle(timeout=30)
    sweep(alive)
    assert alive.executor.wait_idle(timeout=30)
    shown = [e for e in slack.events if e.kind == "message" and request.id in json.dumps(e.blocks or [])]
    told = [t for t in [*direct_messages(alive, ALICE), *(e.text for e in slack.events if e.kind == "response")]
            if "approval" in t]
    assert shown or told, "the request is pending, unseen by any approver, and alice was told nothing"


def test_a_command_acked_by_an_instance_killed_before_its_work_is_done_when_taken_over_late(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState, slack_clock: list[float]) -> None:
    """alice's change needs no approval; the instance that acked it is killed before doing its work, and the work
    is taken over more than five minutes after Slack signed it: it is done (the judge reads everything again
    under the lease), or alice is told it was not; never acked and then dropped in silence."""
    killed, alive = instances.start(Killed()), instances.start()
    assert acked_late(killed, killed.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE),
                      slack_clock) == 200
    past_five_minutes(slack_clock)
    taken_over(alive)
    assert alive.executor.wait_idle(timeout=30)
    answered = [e for e in slack.events if e.kind == "response" or e.channel == slack.dm_channel(ALICE)]
    applied = int(planetscale.policy("acme", "app-db", PROD)["retention_value"]) == 9
    assert applied or answered, "alice's acked command was dropped: nothing done, nothing said"


@pytest.mark.parametrize("tampered", ["body", "old"])
def test_work_redone_late_is_still_only_what_slack_signed(
        instances: Instances, planetscale: PlanetScaleState, tampered: str) -> None:
    """Signed again for Bolt only after its own signature is checked: a body changed since Slack signed it, or
    one signed longer ago than the inbox keeps work, is refused (401) and nothing is done."""
    bot = instances.start()
    body = bot.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    stamp = int(time.time()) - (int(INBOX_GIVE_UP) + 5 if tampered == "old" else SIGNED_AGO)
    headers = {k: [str(v)] for k, v in signed_headers(SIGNING_SECRET, body, timestamp=stamp).items()}
    sent = body.replace("retention%3D9d", "retention%3D1d") if tampered == "body" else body
    assert sent != body or tampered == "old"
    payload = json.dumps({"body": sent, "headers": headers})
    assert redo(bot.app, payload, frozenset({"x:1"}), verifier=SignatureVerifier(SIGNING_SECRET)) == 401
    assert bot.executor.wait_idle(timeout=30)
    assert planetscale.calls("PATCH") == []


def test_an_approval_redone_after_its_instance_stopped_is_not_told_it_was_given_twice(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """carol clicks Approve once on a request that needs two; her instance records the approval and stops before
    judging it. The keeper redoes her click: she is told her approval counts (1 of 2), not that she approved
    twice."""
    for n, user in enumerate(LEADS[1:], start=2):
        slack.add_user(SlackUser(user, f"lead{n}", f"Lead {n}", f"lead{n}@acme.example"))
    slack.add_usergroup("S0DBALEAD1", "dba-leads", LEADS)
    two = ASKING.replace("approvals = 1", "approvals = 2")
    stopping, alive = instances.start(rules=two), instances.start(rules=two)
    alive.command(f"update acme/app-db {PROD} retention=9d", user=ALICE)
    assert alive.executor.wait_idle(timeout=30)
    [asked] = [e for e in slack.events if e.kind == "message" and e.thread_ts is None and APPROVE in
               json.dumps(e.blocks or [])]
    real_add = stopping.deps.store.add_approval

    def add_approval(*args: Any, **kwargs: Any) -> Any:
        real_add(*args, **kwargs)
        raise Died

    monkeypatch.setattr(stopping.deps.store, "add_approval", add_approval)
    responses = len([e for e in slack.events if e.kind == "response"])
    assert acked(stopping, stopping.click_body(APPROVE, request_id(asked), user=CAROL, message=asked)) == 200
    stopping.executor.wait_idle(timeout=30)
    assert alive.deps.store.approvers_of(request_id(asked)) == [CAROL]
    taken_over(alive)
    assert alive.executor.wait_idle(timeout=30)
    said = [e.text for e in slack.events if e.kind == "response"][responses:]
    assert said and "1 of 2" in " ".join(said), said
    assert not any("already approved" in t for t in said), said


def test_a_change_applied_at_once_whose_instance_stopped_before_posting_it_is_posted_in_its_channel(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's change needs no approval; her instance sends it, records it applied, and stops before posting it in
    the channel. Its work was done with the request stored, so nobody redoes it; the sweep that tells a closed
    request's end must still show it in the channel, as every change applied at once is."""
    stopping, alive = instances.start(), instances.start()
    store = stopping.deps.store
    real = store.transition

    def transition(request_id: str, from_states: Any, state: RequestState, **values: Any) -> Any:
        moved = real(request_id, from_states, state, **values)
        if state is RequestState.APPLIED:
            raise Died
        return moved

    monkeypatch.setattr(store, "transition", transition)
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    stopping.executor.wait_idle(timeout=30)
    assert len(alive.deps.store.requests([RequestState.APPLIED])) == 1
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 9
    taken_over(alive)
    sweep(alive)
    assert alive.executor.wait_idle(timeout=30)
    assert posted_in_channel(slack), "applied at PlanetScale and on the record, never shown in its channel"
    sweep(stopping)
    swept_later(alive, POST_GRACE + 1)
    assert len(posted_in_channel(slack)) == 1, "shown in its channel more than once"
    assert any("was applied" in t for t in direct_messages(alive, ALICE))


def posted_in_channel(slack: SlackState) -> list[Any]:
    return [e for e in slack.events if e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None]


def test_a_change_applied_at_once_whose_post_slack_took_before_its_instance_stopped_is_not_posted_again(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's change needs no approval; her instance applies it and posts it in the channel, and stops after
    Slack took the post, before recording where it is. The sweep leaves the post to its claimant while it may
    still be posting, then takes it over, finds it in the channel's history, and does not post it again."""
    stopping, alive = instances.start(), instances.start()

    def set_message(*args: Any, **kwargs: Any) -> None:
        raise Died

    monkeypatch.setattr(stopping.deps.store, "set_message", set_message)
    assert acked(stopping, stopping.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    stopping.executor.wait_idle(timeout=30)
    [applied] = alive.deps.store.requests([RequestState.APPLIED])
    assert applied.message_ts is None and len(posted_in_channel(slack)) == 1
    sweep(alive)
    swept_later(alive, POST_GRACE + 1)
    assert alive.executor.wait_idle(timeout=30)
    assert len(posted_in_channel(slack)) == 1, "posted again: Slack held the first post"
    assert (alive.deps.store.get_request(applied.id) or applied).told


def test_a_change_applied_at_once_is_posted_once_when_another_instance_sweeps_before_it_is_posted(
        instances: Instances, planetscale: PlanetScaleState, slack: SlackState,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's change needs no approval; right after her instance records it applied, another instance's sweep
    finds it applied with no message and posts it. Her instance, going on, does not post it a second time."""
    applying, sweeping = instances.start(), instances.start()
    store = applying.deps.store
    real = store.transition

    def transition(request_id: str, from_states: Any, state: RequestState, **values: Any) -> Any:
        moved = real(request_id, from_states, state, **values)
        if state is RequestState.APPLIED:
            sweep(sweeping)
        return moved

    monkeypatch.setattr(store, "transition", transition)
    assert acked(applying, applying.command_body(f"update acme/app-db {PROD} retention=9d", user=ALICE)) == 200
    assert applying.executor.wait_idle(timeout=30)
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 9
    assert len(posted_in_channel(slack)) == 1, "posted by the sweep and by the instance that applied it"
