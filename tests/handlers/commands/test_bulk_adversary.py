"""Bulk changes, creation and deletion tried as an adversary would (issue 24): the storage bound judged on what
was read under the lease, failures of several kinds in one bulk change, a policy edited elsewhere between
asking and applying, two Retry clicks on two instances. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import pytest
from access_rules import storage_bound
from approval_helpers import (
    ALICE,
    CAROL,
    RULES,
    approvals_bot,
    request_id,
    request_message,
    second_instance,
    sweep,
    swept_later,
)
from conftest import Bot, Reply
from home_helpers import click_on_home, home_buttons, open_home
from test_bulk import add_databases, button, channel_messages, latest, patched, policy, shown

from bot.domain.audit import AuditEvent
from bot.domain.batches import Batch, BatchState
from bot.domain.bulk_finding import MAX_DATABASES_READ
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.blocks import APPROVE, REVERT
from handlers.bulk_blocks import BULK_APPROVE, BULK_CANCEL, BULK_RETRY

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

WEEKLY = "bp02prodwk"  # production, weekly, kept 4 weeks; its latest backup 1.25 GB
STORAGE_BOUND = RULES.format(approvals=1) + storage_bound("production", "7GB")


def test_max_storage_is_judged_on_the_latest_backup_as_read_under_the_lease(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Five weekly backups of 1.25 GB fit 7 GB when asked; the latest backup grows to 2 GB before carol
    approves: under the lease the change would keep 10 GB, and it is not sent."""
    approvals_bot.use_rules(STORAGE_BOUND)
    approvals_bot.command(f"update acme/app-db {WEEKLY} retention=5w", user=ALICE)
    message = request_message(approvals_bot)
    planetscale.add_backup("acme", "app-db", WEEKLY, size=2_000_000_000)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], "sent on the sizes read when it was asked"
    assert "at most 7.0 GB allowed" in reply.all_text()
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED


def test_a_bulk_members_storage_bound_is_judged_on_the_latest_backup_as_read_under_its_lease(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(STORAGE_BOUND)
    approvals_bot.command('update acme/app-db "Production w*" retention=5w', user=ALICE)
    [message] = channel_messages(approvals_bot)
    assert "Production weekly" in shown(approvals_bot, message)
    planetscale.add_backup("acme", "app-db", WEEKLY, size=2_000_000_000)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "at most 7.0 GB allowed" in shown(approvals_bot, message)


def test_a_500_a_429_and_a_deleted_database_in_one_bulk_change_are_each_told_and_the_rest_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "mix", 4)
    approvals_bot.command('update acme/mix-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.add_fault(Fault(status=500, method="PATCH", path_contains="/databases/mix-01/", times=None))
    planetscale.add_fault(Fault(status=429, method="PATCH", path_contains="/databases/mix-02/", times=None))
    with planetscale.lock:  # mix-03 is deleted in PlanetScale meanwhile
        del planetscale.databases[("acme", dbs[2])]
        del planetscale.policies[("acme", dbs[2])]
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    planetscale.faults.clear()
    # A 429 is the token's, not the policy's: those after it are not sent into it but left to the sweep.
    assert not any(f"/databases/{dbs[3]}/" in p for p in patched(planetscale))
    swept_later(approvals_bot, 120)
    assert policy(planetscale, dbs[3])["retention_value"] == 14
    assert policy(planetscale, dbs[0])["retention_value"] == 2 and policy(planetscale, dbs[1])["retention_value"] == 2
    view = shown(approvals_bot, message)
    lines = {db: next(line for line in view.split("\\n") if f"`{db}`" in line) for db in dbs}
    assert ":white_check_mark: applied" in lines[dbs[3]]
    for db in dbs[:3]:
        assert ":white_check_mark:" not in lines[db], lines[db]
    states = {m.request.database: m.request.state for m in
              approvals_bot.deps.store.batch_members(button(message, BULK_APPROVE))}
    assert states[dbs[3]] is RequestState.APPLIED
    assert all(not states[db].is_open or states[db] is RequestState.APPROVED for db in dbs[:3]), states
    # Nothing sent twice, and no PATCH to the deleted database.
    assert not any(f"/databases/{dbs[2]}/" in p for p in patched(planetscale))
    assert patched(planetscale).count(f"/organizations/acme/databases/{dbs[3]}/backup-policies/{dbs[3]}-prod") == 1


def test_a_policy_edited_elsewhere_between_asking_and_applying_is_not_sent_and_the_others_are(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "edit", 3)
    approvals_bot.command('update acme/edit-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.dashboard_change("acme", dbs[1], f"{dbs[1]}-prod", retention_value=5)
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert policy(planetscale, dbs[1])["retention_value"] == 5  # the edit made elsewhere stands
    assert policy(planetscale, dbs[0])["retention_value"] == 14 and policy(planetscale, dbs[2])["retention_value"] == 14
    line = next(line for line in shown(approvals_bot, message).split("\\n") if f"`{dbs[1]}`" in line)
    assert "changed in PlanetScale since the request" in line


@pytest.mark.parametrize("stores_first", [0, 1], ids=["this-instance-stores-first", "other-instance-stores-first"])
def test_two_retry_clicks_on_two_instances_ask_the_failed_policies_again_once(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState, stores_first: int
) -> None:
    """Both clicks read and plan the retry before either stores it; whichever instance stores first, its retry
    waits for an approval under the rules both instances read, and the other click is told it is asked already."""
    add_databases(planetscale, "again", 2)
    approvals_bot.command('update acme/again-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.add_fault(Fault(status=403, method="PATCH", times=None))
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    planetscale.faults.clear()
    sent = len(planetscale.calls("PATCH"))
    shown_now = latest(approvals_bot, message)
    retry = button(shown_now, BULK_RETRY)
    first, second = (approvals_bot, second_instance)[stores_first], (second_instance, approvals_bot)[stores_first]
    planned, stored = threading.Event(), threading.Event()
    store_now = second.deps.store.add_batch

    def held(batch: Batch, records: Sequence[AuditEvent] = ()) -> Batch:
        planned.set()
        assert stored.wait(60), "the first click did not end"
        return store_now(batch, records)

    second.deps.store.add_batch = held  # type: ignore[method-assign]
    replies: list[Reply] = []
    late = threading.Thread(target=lambda: replies.append(
        second.click(BULK_RETRY, retry, user=ALICE, message=shown_now)))
    late.start()
    assert planned.wait(60), "the second click did not plan its retry"
    first.click(BULK_RETRY, retry, user=ALICE, message=shown_now)
    stored.set()
    late.join(60)
    batch_id = button(message, BULK_APPROVE)
    again = [b for b in approvals_bot.deps.store.open_batches() if b.retry_of == batch_id]
    assert len(again) == 1 and again[0].state is BatchState.PENDING, [b.id for b in again]
    assert len(planetscale.calls("PATCH")) == sent, "a retry was sent without its approval"
    [told] = replies
    assert "This retry is already asked by" in told.all_text()


def test_a_glob_over_the_databases_one_bulk_change_may_read_is_refused_with_the_cap_and_the_count(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    add_databases(planetscale, "wide", MAX_DATABASES_READ + 3)
    before = len(planetscale.requests)
    reply = approvals_bot.command('update acme/wide-* "Production daily" retention=14d', user=ALICE)
    said = reply.all_text()
    assert f"names {MAX_DATABASES_READ + 3} databases" in said and f"at most {MAX_DATABASES_READ}" in said
    assert "narrow the database glob" in said
    # Only the list of databases was read: none of their policies.
    assert not any("/backup-policies" in r.path for r in planetscale.requests[before:])
    assert approvals_bot.deps.store.open_batches() == [] and planetscale.calls("PATCH") == []
    narrowed = approvals_bot.command('update acme/wide-0* "Production daily" retention=14d', user=ALICE)
    assert "needs 1 approval" in narrowed.all_text()


def test_a_bulk_change_is_on_the_app_homes_of_its_requester_and_its_approvers_and_is_approved_there(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    dbs = add_databases(planetscale, "home", 2)
    open_home(approvals_bot, ALICE)  # Homes are republished for the people who opened theirs lately
    approvals_bot.command('update acme/home-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    carols = json.dumps(open_home(approvals_bot, CAROL)["blocks"])
    assert "Bulk changes you can act on" in carols and "acme/home-*" in carols
    assert (BULK_APPROVE, batch_id) in home_buttons(approvals_bot.slack.homes[CAROL])
    alices = approvals_bot.slack.homes[ALICE]  # published again when it was asked
    assert (BULK_CANCEL, batch_id) in home_buttons(alices)
    click_on_home(approvals_bot, CAROL, BULK_APPROVE, batch_id)
    assert all(policy(planetscale, db)["retention_value"] == 14 for db in dbs)
    assert "Bulk changes you can act on" not in json.dumps(approvals_bot.slack.homes[ALICE]["blocks"])


def test_the_sweep_reminds_a_bulk_changes_approvers_once_in_its_thread(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    add_databases(planetscale, "nag", 2)
    approvals_bot.command('update acme/nag-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch_id = button(message, BULK_APPROVE)

    def reminders() -> list[str]:
        return [e.text for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts == message.ts
                and e.text.startswith(":bell:")]

    sweep(approvals_bot)
    assert reminders() == []  # just asked: nothing due
    batch = approvals_bot.deps.store.get_batch(batch_id)
    assert batch is not None
    later = batch.created_at + (batch.expires_at - batch.created_at) * 0.6
    approvals_bot.deps.changes.clock = lambda: later
    approvals_bot.deps.store.clock = lambda: later
    sweep(approvals_bot)
    sweep(approvals_bot)  # as another instance's: claimed already
    [reminder] = reminders()
    assert "this bulk change still needs 1 more approval" in reminder


def test_a_bulk_move_out_of_production_keeps_the_floor_of_policies_judged_one_by_one_under_the_lease(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Three production policies when asked, at least one required: two may move to development. The third is
    deleted elsewhere before the approval: under the lease, the second is judged on the policies as listed after
    the first moved, and stays."""
    approvals_bot.use_rules(RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["floor-db"]
targets = ["production"]
min_policies = 1
""")
    planetscale.add_database("acme", "floor-db")
    for suffix, name in (("a", "Prod a"), ("b", "Prod b"), ("c", "Spare c")):
        planetscale.add_policy("acme", "floor-db", f"floor-{suffix}", name=name, target="production")
    approvals_bot.command('update acme/floor-db "Prod *" target=development reason="retire"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    assert "Prod a" in shown(approvals_bot, message) and "Prod b" in shown(approvals_bot, message)
    planetscale.dashboard_delete("acme", "floor-db", "floor-c")
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    left = [p for p in planetscale.policies[("acme", "floor-db")].values() if p["target"] == "production"]
    assert len(left) == 1, "the bulk change left no production policy where one is required"
    assert "Applied to 1 of 2" in shown(approvals_bot, message)


def test_two_revert_clicks_on_a_deletion_on_two_instances_ask_one_creation(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="replaced"', user=ALICE)
    message = request_message(approvals_bot)
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]
    shown_now = latest(approvals_bot, message)
    revert = next(str(el["value"]) for b in shown_now.blocks for el in b.get("elements", [])
                  if el.get("action_id") == REVERT)
    clicks = [threading.Thread(target=bot.click, args=(REVERT, revert), kwargs={"user": ALICE, "message": message})
              for bot in (approvals_bot, second_instance)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(60)
    reverts = [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.revert_of == request_id(message)]
    assert len(reverts) == 1, [(r.id, r.state.value) for r in reverts]
    assert planetscale.calls("POST") == []  # production: it waits for an approval


def test_the_two_approvals_a_bulk_change_needs_clicked_together_on_two_instances_apply_it_once(
    approvals_bot: Bot, second_instance: Bot, planetscale: PlanetScaleState
) -> None:
    for bot in (approvals_bot, second_instance):
        bot.use_rules(RULES.format(approvals=2))
    dbs = add_databases(planetscale, "pair", 2)
    approvals_bot.command('update acme/pair-* "Production daily" retention=14d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    batch_id = button(message, BULK_APPROVE)
    clicks = [threading.Thread(target=bot.click, args=(BULK_APPROVE, batch_id), kwargs={"user": who,
                                                                                      "message": message})
              for bot, who in ((approvals_bot, CAROL), (second_instance, "U0LEAD0002"))]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(60)
    assert sorted(patched(planetscale)) == sorted(
        f"/organizations/acme/databases/{db}/backup-policies/{db}-prod" for db in dbs)
    assert "Applied to 2 of 2" in shown(approvals_bot, message)
