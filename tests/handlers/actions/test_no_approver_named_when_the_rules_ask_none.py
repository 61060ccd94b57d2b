"""Who is named as having decided a request that the rules, by the time it is applied, no longer ask anyone to
approve; and approvals under a floor judged on the policies listed then. Driven through Bolt's pipeline with the
emulators (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from access_rules import guardrail, production_asks
from approval_helpers import (
    ALICE,
    CAROL,
    PROD,
    RULES,
    approvals_bot,
    ask,
    latest_view,
    policy_busy,
    request_id,
    request_message,
    sending_details,
    swept_later,
    thread_of,
)
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name

LEAD2 = "U0LEAD0002"
TWO = production_asks(2)
# Production asks no approval any more, and lead 2 is no longer among those who may give one.
NONE_ASKED = production_asks(0, "U0CAROL001")


def _applied_as_asked_without_approval(bot: Bot, planetscale: PlanetScaleState, message: object) -> None:
    request = bot.deps.store.get_request(request_id(message))  # type: ignore[arg-type]
    assert request is not None and request.state is RequestState.APPLIED
    assert planetscale.policy("acme", "app-db", PROD)["retention_value"] == 5
    assert request.decided_by != LEAD2 and sending_details(bot, request.id) == [""], \
        (request.decided_by, sending_details(bot, request.id))
    assert LEAD2 not in latest_view(bot, message)  # type: ignore[arg-type]
    applied = [t for t in thread_of(bot, message) if "Applied to PlanetScale" in t]  # type: ignore[arg-type]
    assert applied == [":white_check_mark: Applied to PlanetScale."], applied


def test_the_sweep_applying_a_waiting_request_the_rules_no_longer_ask_approvals_for_names_no_approver(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Production asks two approvals from @dba-leads; lead 2 gives one and the request waits. The rules then ask
    none, and name carol alone as approver. The sweep judges it again and applies it: no approval decided it, so
    the trail's "sending" entry must not say "approved by lead 2", who may no longer approve."""
    approvals_bot.use_rules(TWO)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert planetscale.calls("PATCH") == []
    approvals_bot.use_rules(NONE_ASKED)
    swept_later(approvals_bot)
    _applied_as_asked_without_approval(approvals_bot, planetscale, message)


def test_a_queued_request_applied_when_the_rules_ask_no_approval_names_no_approver(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """As above, but carol and lead 2 give both approvals while another change holds the policy: queued. The rules
    then ask none. The sweep applies it under the lease: its thread, message and trail must not say "approved by
    lead 2 (the last of 2 approvals)", which the rules it was applied under no longer ask."""
    approvals_bot.use_rules(TWO)
    message = ask(approvals_bot, f"update acme/app-db {PROD} retention=5d")
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    with policy_busy(approvals_bot, PROD):
        approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert planetscale.calls("PATCH") == []
    approvals_bot.use_rules(NONE_ASKED)
    swept_later(approvals_bot)
    _applied_as_asked_without_approval(approvals_bot, planetscale, message)


WEEKLY = "bp02prodwk"  # production, weekly: one of app-db's two production policies
FLOOR = RULES.format(approvals=1) + guardrail("production", min_policies=1)


def test_an_approval_under_a_floor_while_the_policies_cannot_be_listed_is_told_recorded_and_judged_again(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice asks to delete the weekly production policy under a floor of one production policy (two there:
    allowed, one approval). carol approves while PlanetScale does not list the policies. Her approval is kept;
    she must be told so, and that the bot judges it again, as when any other fact cannot be checked, not handed
    PlanetScale's failure alone (as if nothing had happened); and once PlanetScale answers, the sweep applies it."""
    approvals_bot.use_rules(FLOOR)
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="replaced"', user=ALICE)
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    message = request_message(approvals_bot)
    fault = planetscale.add_fault(Fault(status=503, method="GET", path_contains="/backup-policies", times=None))
    reply = approvals_bot.click(APPROVE, request.id, user=CAROL, message=message)
    fault.times = 0
    assert approvals_bot.deps.store.approvers_of(request.id) == [CAROL]
    said = reply.all_text()
    assert "approval is recorded" in said, said
    swept_later(approvals_bot)
    done = approvals_bot.deps.store.get_request(request.id)
    assert done is not None and done.state is RequestState.APPLIED, (done and done.state, done and done.detail)
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]


def test_a_floor_added_as_an_approval_is_judged_is_never_weighed_on_the_policies_read_when_asked(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice asks to delete the weekly production policy (two production policies then); a third is made in the
    dashboard. As carol's approval is judged, the access file gains a floor of two: gathering the facts read the
    rules before it (no floor: the policies were not listed again), the verdict after it, so the floor was weighed
    on the two policies read when asked and closed the request, where the three there now allow it. Which facts
    are gathered and the verdict are decided on one reading of the rules, as applying does."""
    approvals_bot.command(f'delete acme/app-db {WEEKLY} reason="replaced"', user=ALICE)
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    planetscale.add_policy("acme", "app-db", "bp09prodnew", name="Production hourly", target="production")
    changes = approvals_bot.deps.changes
    real = changes._approving_facts
    swapped: list[bool] = []

    def gathered(*args: Any, **kwargs: Any) -> Any:
        facts = real(*args, **kwargs)
        if not swapped:  # the file reloaded between gathering the facts and judging on them
            swapped.append(True)
            approvals_bot.use_rules(RULES.format(approvals=1) + guardrail("production", min_policies=2))
        return facts

    changes._approving_facts = gathered  # type: ignore[method-assign]
    approvals_bot.click(APPROVE, request.id, user=CAROL)
    assert swapped
    done = approvals_bot.deps.store.get_request(request.id)
    assert done is not None and done.state is RequestState.APPLIED, done and done.detail
    assert WEEKLY not in planetscale.policies[("acme", "app-db")]
