"""Reverts of names past the bot's cap answered with why, `max_storage` on the latest successful backup, a
rejection landing between reading and writing the last approval, and two renames to one name applied at once.
Through Bolt's signed pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from access_rules import per_database, storage_bound
from approval_helpers import ALICE, BOB, CAROL, RULES, approvals_bot
from bulk_helpers import side_change
from conftest import Bot
from test_bulk import channel_messages
from test_create_delete import revert_value

from bot.domain.audit import AuditEvent
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.blocks import REVERT
from handlers.bulk_blocks import BULK_APPROVE, BULK_REJECT

__all__ = ["approvals_bot"]  # fixtures, used by name

LONG = "Nightly " + "x" * 292  # 300 characters: PlanetScale's spec sets no length on a name, the bot's own cap is 255


def test_reverting_the_deletion_or_rename_of_a_policy_named_past_the_bots_cap_is_answered_with_why(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """A policy named in the dashboard longer than the bot lets a name be may still be renamed or deleted through
    the bot; the Revert of either would bring that name back. It must be answered with why, not fail unexplained."""
    for policy_id in ("long-a", "long-b"):
        planetscale.add_policy("acme", "app-db", policy_id, name=LONG + policy_id, target="development")
    approvals_bot.command('update acme/app-db long-a name="Dev nightly"', user=ALICE)
    approvals_bot.command("delete acme/app-db long-b", user=ALICE)
    asked = channel_messages(approvals_bot)
    assert len(asked) == 2 and "long-b" not in planetscale.policies[("acme", "app-db")]
    for message in asked:
        reply = approvals_bot.click(REVERT, revert_value(approvals_bot, message.ts), user=ALICE, message=message)
        said = reply.all_text()
        assert "Something went wrong" not in said, said
        assert "255" in said, said
    assert planetscale.calls("POST") == []
    assert not [r for r in approvals_bot.deps.store.requests(list(RequestState)) if r.revert_of]


def test_max_storage_is_judged_on_the_latest_successful_backup_even_when_the_latest_runs_failed(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The bound is the latest successful backup's size times the backups kept: a policy whose last runs failed
    (a bad day) still has a latest successful backup, three days old here, and keeping 60 of its 2 GB is past
    7 GB. Judged as if it had none, the bound let any retention through while PlanetScale was failing."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("production", "7GB"))
    planetscale.add_database("acme", "sick-db")
    planetscale.add_policy("acme", "sick-db", "sick-prod", name="Production daily", target="production")
    planetscale.add_backup("acme", "sick-db", "sick-prod", hours_ago=72, size=2_000_000_000)
    for hours in (60, 48, 36, 24, 12):
        planetscale.add_backup("acme", "sick-db", "sick-prod", state="failed", hours_ago=hours)
    reply = approvals_bot.command("update acme/sick-db sick-prod retention=30d", user=ALICE)
    said = reply.all_text()
    assert "at most 7.0 GB allowed" in said, said
    assert channel_messages(approvals_bot) == [] and planetscale.calls("PATCH") == []


RACE_RULES = per_database({"side-a": ["U0CAROL001", "U0LEAD0003"], "side-b": ["U0LEAD0002"]})
LEAD2, LEAD3 = "U0LEAD0002", "U0LEAD0003"


def test_a_rejection_landing_between_reading_and_writing_the_last_approval_keeps_its_policies_out(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves side-a's policy, which then waits for side-b's. lead 2 clicks Approve, and between his click
    reading the bulk change and his approval being written, lead 3 (who may approve side-a) rejects side-a's
    policy. Once lead 2's approval applies the bulk change, side-a's policy, rejected before anything was sent,
    must not be sent."""
    batch_id, message = side_change(approvals_bot, planetscale, RACE_RULES)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    store = approvals_bot.deps.bulk.store
    real_add = store.add_batch_approval

    def rejected_meanwhile(batch_id: str, approver: str, records: Sequence[AuditEvent] = ()) -> list[str] | None:
        if approver == LEAD2:  # lead 3's click, taken by another worker while this one judges
            clicking.start()
            deadline = time.monotonic() + 60
            while not [e for e in approvals_bot.audit.all() if e.action == "rejected"]:
                assert time.monotonic() < deadline, "lead 3's rejection never landed"
                time.sleep(0.05)
        return real_add(batch_id, approver, records)

    clicking = threading.Thread(target=lambda: approvals_bot.click(BULK_REJECT, batch_id, user=LEAD3,
                                                                   message=message))

    store.add_batch_approval = rejected_meanwhile  # type: ignore[method-assign]
    try:
        approvals_bot.click(BULK_APPROVE, batch_id, user=LEAD2, message=message)
    finally:
        store.add_batch_approval = real_add  # type: ignore[method-assign]
    clicking.join(timeout=60)
    rejected = [e for e in approvals_bot.audit.all() if e.action == "rejected"]
    assert [(e.actor, e.database) for e in rejected] == [(LEAD3, "side-a")]
    assert planetscale.policies[("acme", "side-a")]["side-a-prod"]["retention_value"] == 2, "sent though rejected"
    assert [c.path for c in planetscale.calls("PATCH")] == [
        "/organizations/acme/databases/side-b/backup-policies/side-b-prod"]


def test_two_renames_of_two_policies_to_one_name_applied_at_once_never_leave_two_of_that_name(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice renames one development policy to "Nightly", and while PlanetScale holds that PATCH in flight bob
    renames another policy of the same database to "Nightly". A rename into a name the database already has is
    refused; judged while the first was in flight, the second must wait for it and then be refused, not leave
    the database with two policies of one name (found by neither, in any command)."""
    for suffix in ("x", "y"):
        planetscale.add_policy("acme", "app-db", f"dev-{suffix}", name=f"Dev {suffix}", target="development")
    stalled = threading.Event()
    planetscale.add_fault(Fault(method="PATCH", until=stalled))
    first = threading.Thread(target=approvals_bot.command, args=('update acme/app-db dev-x name="Nightly"',),
                             kwargs={"user": ALICE})
    first.start()
    deadline = time.monotonic() + 60
    while not planetscale.calls("PATCH"):
        assert time.monotonic() < deadline, "the first PATCH never reached PlanetScale"
        time.sleep(0.02)
    told: list[str] = []
    second = threading.Thread(target=lambda: told.append(approvals_bot.command(
        'update acme/app-db dev-y name="Nightly"', user=BOB).all_text()))
    second.start()
    deadline = time.monotonic() + 5
    while len(planetscale.calls("PATCH")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the second PATCH, if it is sent while the first is in flight
    stalled.set()
    first.join(timeout=60)
    second.join(timeout=60)
    named = [p["id"] for p in planetscale.policies[("acme", "app-db")].values() if p["name"] == "Nightly"]
    assert named == ["dev-x"], named
    assert "already has a policy named “Nightly” (`dev-x`)" in told[0], told
