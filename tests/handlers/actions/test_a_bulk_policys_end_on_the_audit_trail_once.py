"""Each policy of a bulk change ends on the audit trail once, as it ended: a Cancel or a Reject that read the bulk
change before another approver's Reject of some of its policies was written does not record those policies'
end again. The other Reject lands from the same instance or, on PostgreSQL, another instance on the same
database, between the click's read and its write. Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from access_rules import per_database
from approval_helpers import ALICE, CAROL, LEADS, approvals_bot, second_instance
from bulk_helpers import side_change
from conftest import SIGNING_SECRET, Bot, signed_headers
from slack_bolt import BoltRequest

from bot.domain.batches import BatchState
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackEvent
from handlers.bulk_blocks import BULK_CANCEL, BULK_REJECT

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

LEAD2 = LEADS[1]
# side-a's production policy approved by carol alone; side-b's by lead 2 alone, or by carol or lead 2.
SPLIT_RULES = per_database({"side-a": [CAROL], "side-b": [LEAD2]})
SHARED_SIDE_B = per_database({"side-a": [CAROL], "side-b": [CAROL, LEAD2]})
ENDS = {"rejected", "cancelled", "expired", "refused", "applied", "failed"}


@pytest.fixture(params=["one-instance", "two-instances"])
def other(request: pytest.FixtureRequest, approvals_bot: Bot) -> Iterator[Bot]:
    """The instance the racing Reject lands on."""
    if request.param == "one-instance":
        yield approvals_bot
        return
    yield request.getfixturevalue("second_instance")


def ends(bot: Bot, database: str) -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in bot.audit.all() if e.database == database and e.action in ENDS]


def rejected_meanwhile(bot: Bot, other: Bot, name: str, batch_id: str, message: SlackEvent) -> None:
    """lead 2's Reject, on `other`, lands when `bot`'s click first reaches its store's `name` (its close or its
    rejection): after the click read the bulk change, before it writes. On one instance it is dispatched
    without waiting for the click's work, and the click waits for lead 2's write (a gate, not a sleep)."""
    store, others = bot.deps.bulk.store, other.deps.bulk.store
    written, first = threading.Event(), [True]
    reject = others.reject_planned

    def noted(*args: Any, **kwargs: Any) -> Any:
        try:
            return reject(*args, **kwargs)
        finally:
            written.set()

    others.reject_planned = noted  # type: ignore[method-assign]
    under = getattr(store, name)

    def gated(*args: Any, **kwargs: Any) -> Any:
        if first:
            first.clear()
            body = other.click_body(BULK_REJECT, batch_id, user=LEAD2, message=message)
            if other is bot:
                other.app.dispatch(BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body)))
            else:
                other.send(body)
            assert written.wait(60), "lead 2's Reject was not written"
        return under(*args, **kwargs)

    setattr(store, name, gated)


def test_a_cancel_racing_a_partial_rejection_records_the_rejected_policy_rejected_once(
    approvals_bot: Bot, other: Bot, planetscale: PlanetScaleState
) -> None:
    """alice cancels while lead 2 rejects side-b's policy: side-b's ends rejected by lead 2 alone, side-a's
    cancelled by alice, whichever instance took lead 2's click."""
    batch_id, message = side_change(approvals_bot, planetscale, SPLIT_RULES)
    other.use_rules(SPLIT_RULES)
    rejected_meanwhile(approvals_bot, other, "close_batch", batch_id, message)
    approvals_bot.click(BULK_CANCEL, batch_id, user=ALICE, message=message)
    batch = approvals_bot.deps.bulk.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.CANCELLED
    assert [p.rejected_by for p in batch.planned] == [None, LEAD2]
    assert ends(approvals_bot, "side-b") == [("rejected", LEAD2)], "a policy rejected was also recorded cancelled"
    assert ends(approvals_bot, "side-a") == [("cancelled", ALICE)]
    assert planetscale.calls("PATCH") == []


def test_a_rejection_racing_a_partial_rejection_records_each_policy_rejected_once(
    approvals_bot: Bot, other: Bot, planetscale: PlanetScaleState
) -> None:
    """carol rejects both policies while lead 2 rejects side-b's: side-b's ends rejected by lead 2 alone (the
    write that took it out), side-a's by carol, and the bulk change is rejected."""
    batch_id, message = side_change(approvals_bot, planetscale, SHARED_SIDE_B)
    other.use_rules(SHARED_SIDE_B)
    rejected_meanwhile(approvals_bot, other, "reject_planned", batch_id, message)
    approvals_bot.click(BULK_REJECT, batch_id, user=CAROL, message=message)
    batch = approvals_bot.deps.bulk.store.get_batch(batch_id)
    assert batch is not None and batch.state is BatchState.REJECTED
    assert [p.rejected_by for p in batch.planned] == [CAROL, LEAD2]
    assert ends(approvals_bot, "side-b") == [("rejected", LEAD2)], "a policy rejected was recorded rejected twice"
    assert ends(approvals_bot, "side-a") == [("rejected", CAROL)]
    assert planetscale.calls("PATCH") == []
