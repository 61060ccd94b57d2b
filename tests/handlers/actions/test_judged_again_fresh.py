"""Issue 19: a write judged again by its fence (after it waited) leaves only on a read of the policy made after
every wait of that judging: the look-ups the judge needs (a PlanetScale role) come before the read, never after
it. Through Bolt's pipeline and the emulators."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, RULES, approvals_bot
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval
# As the shared rules, and a development change is asked only by a PlanetScale admin (alice is one).
ADMIN_DEV = RULES.format(approvals=1) + 'planetscale_role = "admin"\n'


class MovedWhileTheRoleWaits(list[float]):
    """The client's waits: the PATCH's (refused unread, 429) first, then the role look-up's; during the second,
    someone moves the policy to production in PlanetScale's dashboard."""

    def __init__(self, planetscale: PlanetScaleState) -> None:
        super().__init__()
        self.planetscale = planetscale

    def append(self, seconds: float) -> None:
        super().append(seconds)
        if len(self) == 2:
            self.planetscale.dashboard_change("acme", "app-db", DEV, target="production")


@pytest.fixture
def sleeps(planetscale: PlanetScaleState) -> list[float]:
    return MovedWhileTheRoleWaits(planetscale)


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_a_write_judged_again_is_not_sent_on_a_read_made_before_the_judges_role_look_up_waited(
        approvals_bot: Bot, planetscale: PlanetScaleState, sleeps: list[float], method: str) -> None:
    """alice (a PlanetScale admin) asks a no-approval change of a development policy from #random. Its write is
    refused unread (429) and waits, so its fence reads the policy again and judges it again; the judge then looks
    up alice's PlanetScale role, and that look-up waits too (429, Retry-After: 2), while the policy is moved to
    production, where a change needs an approval and is asked only in #db-ops. The write leaves on the fence's
    read, made before that wait: onto a production policy with no approval."""
    approvals_bot.use_rules(ADMIN_DEV)
    planetscale.add_fault(Fault(status=429, method=method, times=1, retry_after="3"))
    # The role is looked up when the change is asked (and, for a deletion, asked without the lease, once more when
    # it applies); the next look-up, the fence's, waits.
    planetscale.add_fault(Fault(status=429, method="GET", path_contains="/members", times=1,
                                skip=1 if method == "PATCH" else 2, retry_after="2"))
    text = f"update acme/app-db {DEV} retention=9d" if method == "PATCH" else f"delete acme/app-db {DEV}"
    reply = approvals_bot.command(text, user=ALICE)
    assert sleeps == [3.0, 2.0], sleeps  # the write waited, then the fence's role look-up, as the policy moved
    assert DEV in planetscale.policies[("acme", "app-db")], (
        f"a DELETE reached a production policy with no approval, asked from #random: {reply.all_text()}")
    policy = planetscale.policy("acme", "app-db", DEV)
    assert policy["target"] == "production", reply.all_text()
    assert policy["retention_value"] != 9 and len(planetscale.calls(method)) == 1, (
        f"a {method} reached a production policy with no approval, asked from #random: {reply.all_text()}")
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED, reply.all_text()
    assert "Nothing was sent" in reply.all_text() or "Not applied" in reply.all_text(), reply.all_text()
