"""A bulk change's Retry after a retry of it that left a policy out: a retry whose reading of one database failed
(or that was not its asker's to change) leaves that policy in no change and on no retry's message, so the first
change's Retry must still offer it. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

from approval_helpers import ALICE, approvals_bot
from bulk_helpers import button, channel_messages, latest
from conftest import Bot
from test_bulk import add_databases, patched, policy

from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_RETRY

__all__ = ["approvals_bot"]


def test_a_policy_a_retry_left_out_unread_is_retried_by_the_first_changes_retry(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Both development policies fail (PlanetScale answers 422); the first Retry reads rt-02 while PlanetScale fails
    for it, so only rt-01 is retried (and applied). The second click on the same Retry was told 'retried already:
    what failed again is offered on the retry's own message', where nothing offers rt-02: it was never changed."""
    dbs = add_databases(planetscale, "rt", 2)
    planetscale.add_fault(Fault(status=422, method="PATCH", times=None))
    approvals_bot.command('update acme/rt-* "Development daily" retention=5d', user=ALICE)
    [message] = channel_messages(approvals_bot)
    planetscale.faults.clear()
    shown = latest(approvals_bot, message)
    retry = button(shown, BULK_RETRY)
    unread = planetscale.add_fault(Fault(status=500, method="GET", times=None,
                                         path_contains=f"/databases/{dbs[1]}/backup-policies"))
    approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown)
    planetscale.faults.remove(unread)
    assert [policy(planetscale, db, "dev")["retention_value"] for db in dbs] == [5, 3]
    sent = patched(planetscale)
    second = approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown).all_text()
    assert policy(planetscale, dbs[1], "dev")["retention_value"] == 5, second
    assert patched(planetscale)[len(sent):] == [f"/organizations/acme/databases/{dbs[1]}/backup-policies/"
                                                f"{dbs[1]}-dev"], "rt-01, applied by the first retry, sent again"
    third = approvals_bot.click(BULK_RETRY, retry, user=ALICE, message=shown).all_text()
    assert "retried already" in third, third
    assert len(patched(planetscale)) == len(sent) + 1
