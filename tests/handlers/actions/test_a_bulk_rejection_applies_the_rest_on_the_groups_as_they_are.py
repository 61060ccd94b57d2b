"""Approvals let a write through on memberships: counted on the user groups as listed lately when the change is
judged under its lease, whatever door brought it there, never on a listing made before an approver was taken out
of the group that lets them approve. A bulk change's Reject that leaves the rest of it fully approved applies the
rest at once; an approval that waits for the policy's lease is judged once it has it. Through Bolt's pipeline,
on SQLite and PostgreSQL; the groups' cache (a minute, as `serve` makes it) on a clock the test moves."""

from __future__ import annotations

import json

from access_rules import per_database
from approval_helpers import CAROL, DAVE, PROD, approvals_bot, ask, request_id
from bulk_helpers import latest, side_change
from conftest import Bot
from test_approval_after_removal_from_a_group import on_a_clock, removed

from bot.domain.change_requests import ChangeRequest, RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE, BULK_REJECT

__all__ = ["approvals_bot"]  # a fixture, used by name

# side-a's production policies approved by @dba-leads (carol among them), side-b's by dave alone.
GROUP_AND_PERSON = per_database({"side-a": ["@dba-leads"], "side-b": [DAVE]})


def test_a_rejection_does_not_apply_the_rest_on_an_approval_of_someone_since_out_of_the_group(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves side-a's policy at 0 s (it then waits only for side-b's); she is taken out of @dba-leads at
    30 s; dave rejects side-b's at 59 s, while the minute's listing still names her. side-a's must not be sent
    on her approval."""
    now = on_a_clock(approvals_bot)
    batch_id, message = side_change(approvals_bot, planetscale, GROUP_AND_PERSON)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    now[0] = 30.0
    removed(approvals_bot, CAROL)
    now[0] = 59.0
    approvals_bot.click(BULK_REJECT, batch_id, user=DAVE, message=message)
    assert [e.database for e in approvals_bot.audit.all() if e.action == "rejected"] == ["side-b"]
    assert planetscale.calls("PATCH") == [], "side-a's production policy was sent on the approval of someone no " \
                                             "longer in the group that may approve it"
    assert planetscale.policies[("acme", "side-a")]["side-a-prod"]["retention_value"] != 14
    shown = json.dumps(latest(approvals_bot, message).blocks)
    assert "`side-a` (1 policy): 1 more approval still needed from <!subteam^S0DBALEAD1>" in shown, shown


def test_an_approval_that_waited_for_the_policys_lease_counts_on_the_groups_listed_then(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """carol approves at 0 s while another change holds the policy; she is taken out of @dba-leads while her
    approval waits for its lease, which it gets at 30 s, while the minute's listing still names her. The
    production change must not be sent on her approval: it is judged under the lease on the groups as they are."""
    now = on_a_clock(approvals_bot)
    message = ask(approvals_bot)
    store = approvals_bot.deps.store
    holding = ChangeRequest("acme", "app-db", PROD, "", "U0OTHER001", "C0OTHER001", {}, {}, 0, [], 0.0)
    claim = store.claim_for_applying(holding, (), 60.0)
    assert claim is not None

    def meanwhile(_: float) -> None:  # while the approval waits for the lease
        removed(approvals_bot, CAROL)
        now[0] = 30.0
        store.release(claim)

    approvals_bot.deps.changes.pause = meanwhile
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [], "a production change was sent on the approval of someone no longer " \
                                             "in the group that may approve it"
    request = store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.PENDING
    assert "no longer counted: <@U0CAROL001>" in reply.all_text(), reply.all_text()
