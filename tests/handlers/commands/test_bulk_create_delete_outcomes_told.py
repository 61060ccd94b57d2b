"""Bulk changes, creation and deletion: a lost creation settled only on its own policy, a 404 to a DELETE read
before it is told applied, approvals per database shown as they are, and every policy's outcome told where the
bot cannot post in the channel or has few messages left."""

from __future__ import annotations

import json

from access_rules import per_database, storage_bound
from approval_helpers import ALICE, CAROL, RULES, approvals_bot, sweep
from bulk_helpers import grown_before_applying, side_change
from conftest import Bot
from test_bulk import add_databases, button, channel_messages, shown, thread
from test_create_delete import left_applying

from bot.domain.change_requests import ChangeKind, RequestState
from bot.domain.policy import planned_policy
from bot.emulators.planetscale import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE, fitted_replies

__all__ = ["approvals_bot"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval


def test_a_lost_creation_is_not_settled_on_a_policy_renamed_to_its_name_elsewhere(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice's creation of "Nightly" was sent and the instance stopped; the POST never landed. Meanwhile someone
    renamed the existing development policy to "Nightly" in the dashboard. The sweep settles the creation by
    reading: it must not adopt a policy that was there before (its ID was in the facts it was judged on), else
    the record says the bot made it, and its Revert deletes a policy the bot never made."""
    values = {"name": "Nightly", "target": "development", "retention_value": 7, "retention_unit": "day",
              "frequency_value": 1, "frequency_unit": "day", "schedule_time": "02:00"}
    rid = left_applying(approvals_bot, ChangeKind.CREATE, "", planned_policy(values).model_dump(), values)
    planetscale.dashboard_change("acme", "app-db", DEV, name="Nightly")
    sweep(approvals_bot)
    request = approvals_bot.deps.store.get_request(rid)
    assert request is not None
    assert request.policy_id != DEV, "the creation is recorded as having made a policy that existed before it"
    assert request.state is RequestState.FAILED


def test_how_each_policy_ended_that_slack_refused_in_the_thread_is_posted_by_the_sweep(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Fifteen development policies change at once; the message lists twelve and says "the thread lists them
    all". Slack takes the plan in the thread and refuses the outcomes once: a later sweep must post them, or
    three policies' outcomes are told nowhere while the message points at the thread."""
    dbs = add_databases(planetscale, "told", 15)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="internal_error", in_thread=True, skip=1))
    approvals_bot.command('update acme/told-* "Development daily" retention=5d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    assert "the thread lists them all" in shown(approvals_bot, message)
    assert "How each policy ended" not in thread(approvals_bot, message)
    sweep(approvals_bot)
    sweep(approvals_bot)
    listed = thread(approvals_bot, message)
    assert "How each policy ended" in listed, "the outcomes are never posted in the thread"
    ended = listed[listed.index("How each policy ended"):]
    assert all(f"`{db}`" in ended for db in dbs)


def test_a_deletion_answered_404_while_planetscale_keeps_the_policy_is_not_told_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """PlanetScale answers 404 to a token that lacks access to the database (docs/planetscale-api.md), not only
    for a policy that is gone. The development policy stays in PlanetScale; the bot must not record and post
    its deletion as applied (its Revert would then make a second copy of it)."""
    planetscale.add_fault(Fault(status=404, method="DELETE"))
    said = approvals_bot.command(f"delete acme/app-db {DEV}", user=ALICE).all_text()
    assert DEV in planetscale.policies[("acme", "app-db")]
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED, "recorded as deleted while PlanetScale still has the policy"
    assert request.state is RequestState.FAILED
    assert "still lists the policy" in (request.detail or "")
    assert "still lists the policy, so it was not deleted" in said


def test_a_deletion_answered_404_once_the_policy_is_gone_is_applied_as_read(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The DELETE lands and its answer is a 404 (a retried DELETE whose first landed): read, the policy is gone,
    so the deletion is applied, and the record says how that was known."""
    planetscale.add_fault(Fault(status=404, method="DELETE", landed=True))
    approvals_bot.command(f"delete acme/app-db {DEV}", user=ALICE)
    assert DEV not in planetscale.policies[("acme", "app-db")]
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED
    [applied] = [e for e in approvals_bot.deps.store.events_of_request(request.id) if e.action == "applied"]
    assert "no longer lists the policy" in (applied.detail or "")


def test_a_deletion_answered_404_where_the_database_cannot_be_read_either_fails_saying_it_could_not_tell(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """404 to the DELETE and to the listing after it: the database is gone or the token lacks access; the bot
    cannot tell whether the policy is gone, so it is not recorded as deleted, and the message says why."""
    planetscale.add_fault(Fault(status=404, method="DELETE"))
    # The two listings before the DELETE (asking, then under the lease) are answered; the one after it is not.
    planetscale.add_fault(Fault(status=404, method="GET", path_contains="/backup-policies", skip=2))
    said = approvals_bot.command(f"delete acme/app-db {DEV}", user=ALICE).all_text()
    assert [r.method for r in planetscale.calls() if r.path.endswith("/backup-policies")][-1] == "GET"
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.FAILED
    assert "Whether the policy is gone could not be told" in (request.detail or "")
    assert "Whether the policy is gone could not be told" in said


SPLIT_RULES = per_database({"side-a": ["U0CAROL001"], "side-b": ["U0LEAD0002"]})


def test_a_bulk_change_whose_databases_need_different_approvers_is_not_shown_or_reminded_as_fully_approved(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """side-a's production policies are approved by carol, side-b's by lead 2. carol approves: side-a's policy
    is ready, side-b's still waits for lead 2. The message must not say 1 of 1, and the reminder must ask for
    the approval still missing, not say it has the approvals it needs."""
    batch_id, message = side_change(approvals_bot, planetscale, SPLIT_RULES)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "1 of 1" not in shown(approvals_bot, message), "shown as fully approved while side-b still waits"
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None
    later = batch.created_at + (batch.expires_at - batch.created_at) * 0.6
    approvals_bot.deps.changes.clock = lambda: later
    approvals_bot.deps.store.clock = lambda: later
    sweep(approvals_bot)
    [reminder] = [e.text for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
                  and e.text.startswith(":bell:")]
    assert "has the approvals it needs" not in reminder, reminder
    assert "`side-b` (1 policy): 1 more approval still needed from <@U0LEAD0002>" in reminder
    now = shown(approvals_bot, message)
    assert "`side-a` (1 policy): approved by <@U0CAROL001>" in now
    assert "`side-b` (1 policy): 1 more approval still needed from <@U0LEAD0002>" in now
    approvals_bot.click(BULK_APPROVE, batch_id, user=LEAD2, message=message)
    assert len(planetscale.calls("PATCH")) == 2


WEEKLY = "bp02prodwk"  # production, weekly, kept 4 weeks; its latest backup 1.25 GB
LEAD2 = "U0LEAD0002"


def test_a_bulk_member_waiting_for_more_approvals_once_approved_and_applied_shows_applied_on_its_batch(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The storage bound allows an override with two approvals. Once carol's approval is judged, the latest
    backup grows: under the lease its one member now needs two approvals and waits. lead 2 approves it from
    `pending` and it is sent; the bulk change's message still says it waits, and nobody hears how it ended."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7GB") + "override_approvals = 2\n")
    approvals_bot.command('update acme/app-db "Production w*" retention=5w reason="audit"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    with grown_before_applying(approvals_bot, planetscale, WEEKLY, 2_000_000_000):
        approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert "waiting: its rules now ask for more approvals" in shown(approvals_bot, message)
    [member] = approvals_bot.deps.store.requests([RequestState.PENDING])
    assert member.id in approvals_bot.command("pending", user=LEAD2).all_text()
    approvals_bot.click(APPROVE, member.id, user=LEAD2)
    assert planetscale.policy("acme", "app-db", WEEKLY)["retention_value"] == 5  # sent, by the click
    now = shown(approvals_bot, message)
    assert "Applied to 1 of 1" in now and "waiting" not in now, "the bulk change still says its policy waits"
    assert "How each policy ended" in thread(approvals_bot, message)
    sweep(approvals_bot)
    assert len([e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
                and e.text.startswith("How each policy ended")]) == 1


def test_a_bulk_request_posted_without_the_bot_in_the_channel_still_lists_every_policy_before_it_is_approved(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Slack refuses chat.postMessage (not_in_channel): the request is posted in the channel through the
    response URL, with the first twelve policies and "the thread lists them all". No thread is ever posted
    (its ts is unknown, so the sweep never finds it): the approvers would approve fifteen policies having been
    shown twelve."""
    dbs = add_databases(planetscale, "nic", 15)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="not_in_channel", in_thread=False))
    approvals_bot.command('update acme/nic-* "Production daily" retention=14d', user=ALICE)
    sweep(approvals_bot)
    said = " ".join(json.dumps(e.blocks, ensure_ascii=False) + (e.text or "") for e in approvals_bot.slack.events)
    assert "the thread lists them all" not in said, "it points at a thread that never exists"
    assert "the messages after this one list them all" in said
    assert [db for db in dbs if f"`{db}`" not in said] == [], "policies asked for approval that nobody was shown"


def test_a_bulk_change_applied_at_once_without_the_bot_in_the_channel_tells_how_every_policy_ended(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Fifteen development policies change at once (no approval) and the bot may not post in the channel: its
    message goes through the response URL with no thread, so how each policy ended follows it there."""
    dbs = add_databases(planetscale, "nicdev", 15)
    approvals_bot.slack.add_fault(MethodFault("chat.postMessage", error="not_in_channel", in_thread=False))
    reply = approvals_bot.command('update acme/nicdev-* "Development daily" retention=5d', user=ALICE)
    said = " ".join(json.dumps(e.blocks, ensure_ascii=False) + (e.text or "") for e in reply.public)
    assert "the thread lists them all" not in said
    assert "the messages after this one list them all" in said
    ended = said[said.index("How each policy ended"):]
    assert [db for db in dbs if f"`{db}`" not in ended] == []


def test_a_list_too_long_for_the_messages_left_counts_what_it_leaves_out() -> None:
    """Where only a few messages are left (a response URL's five uses), lines are shortened as far as they may
    be; whatever still does not fit is counted in the last message, never dropped unsaid."""
    lines = [f"• `db-{n:04d}` *Policy {n}*: " + "x" * 300 for n in range(600)]
    replies = fitted_replies(lines, "Each policy", 2)
    assert len(replies) == 2
    shown = " ".join(json.dumps(blocks, ensure_ascii=False) for _, blocks in replies)
    listed = sum(f"db-{n:04d}" in shown for n in range(600))
    assert 0 < listed < 600
    assert f"…and {600 - listed} more not shown here" in shown
    assert all(len(json.dumps(blocks)) < 12_000 for _, blocks in replies)
