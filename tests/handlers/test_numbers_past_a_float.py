"""PlanetScale's spec types a retention and a frequency as `integer`, with no bound, and JSON holds integers of
any length: one past a float's range (10^400) is read, shown, judged and estimated without "Something went
wrong", through Bolt's pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, CAROL, request_id, request_message
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

PAST_A_FLOAT = 10**400  # a float's largest is about 1.8 × 10^308
WEEKLY = "bp02prodwk"  # production, not required: a change waits for an approver


def odd(planetscale: PlanetScaleState, **values: int) -> None:
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][WEEKLY].update(values)


@pytest.mark.parametrize("field", ["retention_value", "frequency_value"])
def test_status_and_a_dry_run_of_a_policy_past_a_float_answer_in_words(
        approvals_bot: Bot, planetscale: PlanetScaleState, field: str) -> None:
    odd(planetscale, **{field: PAST_A_FLOAT})
    status = approvals_bot.command("status acme/app-db", user=ALICE).all_text()
    assert "Something went wrong" not in status and "Production weekly" in status, status
    dry = approvals_bot.command(f"update acme/app-db {WEEKLY} retention=5w frequency=1w --dry-run",
                                user=ALICE).all_text()
    assert "Something went wrong" not in dry and "Dry run" in dry, dry
    assert "Kept at once:" in dry, dry


def test_a_change_to_a_policy_past_a_float_is_asked_approved_and_applied(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """alice brings a retention of 10^400 weeks back to 5 weeks: her request is posted with its Approve button,
    carol approves it, and PlanetScale holds 5 weeks."""
    odd(planetscale, retention_value=PAST_A_FLOAT)
    said = approvals_bot.command(f"update acme/app-db {WEEKLY} retention=5w", user=ALICE).all_text()
    assert "failed before it finished" not in said and "Something went wrong" not in said, said
    message = request_message(approvals_bot)
    approved = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message).all_text()
    assert "Something went wrong" not in approved, approved
    assert planetscale.policy("acme", "app-db", WEEKLY)["retention_value"] == 5
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is RequestState.APPLIED
