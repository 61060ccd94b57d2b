"""A bulk change's policy that waits on PlanetScale under rules whose requests live less than an hour
(`expire_after = "10m"`): it is tried until its request's life ends, not for an hour, and every word it is told
says so: never "for up to an hour", never "for an hour", never that another change to the policy was being
applied (none was: PlanetScale failed). Through Bolt's pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import CAROL, RULES, approvals_bot, sweep
from backup_reads import closed_past, moved_clock
from conftest import Bot
from test_bulk import add_databases, button, channel_messages, policy, shown

from bot.domain.change_requests import ChangeRequest
from bot.domain.outcomes import Outcome
from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot"]

SHORT_LIFE = RULES.replace('expire_after = "24h"', 'expire_after = "10m"')


def _line(view: str, database: str) -> str:
    return next(line for line in view.split("\\n") if f"`{database}`" in line)


@pytest.mark.parametrize("approvals", [0, 1])
def test_a_bulk_policy_waiting_on_planetscale_past_a_short_request_life_is_told_its_true_bound(
    approvals_bot: Bot, planetscale: PlanetScaleState, approvals: int
) -> None:
    now = moved_clock(approvals_bot)
    assert SHORT_LIFE != RULES
    approvals_bot.use_rules(SHORT_LIFE.format(approvals=approvals))
    dbs = add_databases(planetscale, "brief", 2)
    fault = Fault(status=500, method="GET", times=None, path_contains=f"/databases/{dbs[1]}/backup-policies")
    changes = approvals_bot.deps.changes
    apply_approved = changes.apply_approved

    def failing_first(member: ChangeRequest, by: str) -> Outcome:
        # PlanetScale fails for the second database once the change applies: after its asking read it.
        if fault not in planetscale.faults:
            planetscale.add_fault(fault)
        return apply_approved(member, by)

    changes.apply_approved = failing_first  # type: ignore[method-assign]
    approvals_bot.command('update acme/brief-* "Production daily" retention=14d')
    [message] = channel_messages(approvals_bot)
    if approvals:
        approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    now[0] += 120
    sweep(approvals_bot)
    waiting = _line(shown(approvals_bot, message), dbs[1])
    assert "next sweep" in waiting, waiting
    # its request ends 10 minutes after the approval
    assert "an hour" not in waiting and "10 minutes" in waiting, waiting
    closed_past(approvals_bot, now, 600)  # past the request's life, long before an hour
    view = shown(approvals_bot, message)
    line = _line(view, dbs[1])
    assert ":x: not applied" in line and "(500)" in line, line
    assert "an hour" not in line, line
    assert "another change to the policy" not in line, line
    assert "Retry" in line and BULK_RETRY in view, view
    assert policy(planetscale, dbs[1])["retention_value"] == 2
    assert policy(planetscale, dbs[0])["retention_value"] == 14
