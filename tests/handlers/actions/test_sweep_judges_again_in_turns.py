"""The sweep's turns of judging again and the one reading of the rules, single and bulk."""

from __future__ import annotations

import json
import time

from access_rules import guardrail
from approval_helpers import ALICE, CAROL, RULES, approvals_bot, request_message, sweep
from bulk_helpers import button, channel_messages, grown_before_applying, latest
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

WEEKLY = "bp02prodwk"  # acme/app-db's production weekly policy, kept 4 weeks; its latest backup 1.25 GB
OVERRIDE_BOUND = RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "7GB"
override_approvals = 2
"""
FLOOR = guardrail("production", min_policies=1)


def test_a_bulk_policy_sent_back_to_waiting_is_judged_again_by_the_sweep_once_the_rules_allow_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice asks in bulk to keep acme/app-db's production weekly policy 5 weeks; carol approves. Its backup grows
    past the 7 GB bound between carol's approval and the read under the lease: the policy is sent back to waiting
    for an override's second approval. The bound is then taken out of the access file. A single request left so
    is applied by the sweep once its turn is due (rev24h, the turns); this member is never judged again: it was
    made `approved` by its bulk change with no turn (`judge_at` unset), and sent back to `pending` with none, so
    it waits until it expires though carol's approval now suffices."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    approvals_bot.use_rules(OVERRIDE_BOUND)
    approvals_bot.command('update acme/app-db "Production w*" retention=5w reason="audit"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    with grown_before_applying(approvals_bot, planetscale, WEEKLY, 2_000_000_000):
        approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    [member] = approvals_bot.deps.store.requests([RequestState.PENDING])
    assert "waiting: its rules now ask for more approvals" in json.dumps(latest(approvals_bot, message).blocks)
    approvals_bot.use_rules(RULES.format(approvals=1))  # the bound is gone: carol's approval is all it needs
    for _ in range(3):
        now[0] += JUDGE_AGAIN_SECONDS + 1
        sweep(approvals_bot)
    after = approvals_bot.deps.store.get_request(member.id)
    assert after is not None and after.expires_at > now[0], "the test outlived the request"
    assert after.state is RequestState.APPLIED, \
        f"a bulk policy sent back to waiting is never judged again by the sweep: still {after.state.value}"
    assert planetscale.policies[("acme", "app-db")][WEEKLY]["retention_value"] == 5


def test_an_approval_clicked_again_that_cannot_be_judged_is_judged_again_at_the_next_sweep(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Production asks two approvals, under a floor of one production policy; alice asks to delete the weekly
    one (two there). carol approves: one of two, its next turn in JUDGE_AGAIN_SECONDS. The rules then ask one.
    carol clicks Approve again while PlanetScale does not list the policies: "Your approval is recorded; the bot
    judges it again shortly". PlanetScale answers again; a sweep two minutes later must apply it (a verdict of
    cannot tell is due at the next sweep, as the sweep's own is), yet its turn stays ten minutes after her first
    click: a second click by the same approver adds no approval, so it sets no turn."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    approvals_bot.use_rules(RULES.format(approvals=2) + FLOOR)
    approvals_bot.command('delete acme/app-db bp02prodwk reason="replaced"', user=ALICE)
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    message = request_message(approvals_bot)
    approvals_bot.click(APPROVE, request.id, user=CAROL, message=message)
    approvals_bot.use_rules(RULES.format(approvals=1) + FLOOR)
    now[0] += 10
    fault = planetscale.add_fault(Fault(status=503, method="GET", path_contains="/backup-policies", times=None))
    said = approvals_bot.click(APPROVE, request.id, user=CAROL, message=message).all_text()
    planetscale.faults.remove(fault)
    assert "judges it again shortly" in said, said
    now[0] += 120
    sweep(approvals_bot)
    done = approvals_bot.deps.store.get_request(request.id)
    assert done is not None and done.state is RequestState.APPLIED, \
        f"told 'judged again shortly', not judged by the sweep two minutes on: {done and done.state.value}"
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]


def test_a_bulk_approval_lists_a_database_once_when_planetscale_does_not_list_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice asks in bulk to move acme/fl's three production policies named P* to development, under a floor of
    one production policy (four there). carol approves while PlanetScale does not list the database's policies. A
    bulk approval reads each database once for all its policies (SharedReads); a failed listing is not kept, so
    each policy of the database lists it again, each with the client's retries: three times the GETs (and the
    waits between them) on a PlanetScale already failing, inside one click."""
    approvals_bot.use_rules(RULES.format(approvals=1) + FLOOR)
    planetscale.add_database("acme", "fl")
    for n in range(1, 5):
        planetscale.add_policy("acme", "fl", f"fl-{n}", name=f"P{n}" if n < 4 else "Kept", target="production")
    approvals_bot.command('update acme/fl "P*" target=development', user=ALICE)
    [message] = channel_messages(approvals_bot)
    fault = planetscale.add_fault(Fault(status=503, method="GET", path_contains="/fl/backup-policies", times=None))
    before = len(planetscale.calls("GET"))
    said = approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message).all_text()
    planetscale.faults.remove(fault)
    listings = [c.path for c in planetscale.calls("GET")[before:] if c.path.endswith("/fl/backup-policies")]
    assert "waiting on PlanetScale" in said and not planetscale.calls("PATCH"), said
    # One listing, with the client's four tries, for the approval and its message alike (20 GETs before
    # SharedReads, 8 while the message's drawing listed it again).
    assert len(listings) <= 4, f"one bulk approval listed acme/fl {len(listings)} times"
