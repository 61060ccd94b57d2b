"""Review rev24k of issue 24 (many policies, their whole life): attacks through Bolt's real pipeline, on SQLite
and PostgreSQL; each test names what it proves."""

from __future__ import annotations

import pytest
from access_rules import by_target
from approval_helpers import approvals_bot
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

ALICE, BOB = "U0ALICE001", "U0BOB00001"
# alice may see and change everything; bob only development policies.
RULES = by_target(production=(["U0ALICE001"], ["U0CAROL001"], 0),
                  development=(["U0ALICE001", "U0BOB00001"], ["U0CAROL001"], 0))
HIDDEN, MINE = "bphiddenprod", "bpminedev"

__all__ = ["approvals_bot"]  # a fixture, used by name


@pytest.fixture
def twins(approvals_bot: Bot, planetscale: PlanetScaleState) -> Bot:
    """app-db holds two policies named “Nightly”: a production one bob may not see, a development one he may."""
    approvals_bot.use_rules(RULES)
    planetscale.add_policy("acme", "app-db", HIDDEN, name="Nightly", target="production")
    planetscale.add_policy("acme", "app-db", MINE, name="Nightly", target="development")
    return approvals_bot


@pytest.mark.parametrize("command", ['show acme/app-db "Nightly"', 'update acme/app-db "Nightly" retention=5d',
                                     'delete acme/app-db "Nightly" --dry-run', 'edit acme/app-db "Nightly"'])
def test_a_name_shared_with_a_policy_the_caller_may_not_see_never_reveals_it(
    twins: Bot, planetscale: PlanetScaleState, command: str
) -> None:
    """bob names “Nightly”, the one development policy of that name he may see. The lookup counted the production
    policy of the same name too and answered with both IDs ('2 policies … are named “Nightly”: use an ID
    (bphiddenprod, bpminedev)'): a policy whose target the rules hide from him, named by its ID (README: counted,
    never named). His own is the only one he may mean."""
    shown = twins.command(command, user=BOB).all_text() + str([e.view for e in twins.slack.events])
    assert HIDDEN not in shown, shown
    assert not [c for c in planetscale.calls("PATCH") if HIDDEN in c.path]
    # alice sees both, so for her the name is ambiguous and both IDs are hers to see.
    assert HIDDEN in twins.command('show acme/app-db "Nightly"', user=ALICE).all_text()


def test_deleting_by_a_name_shared_with_a_hidden_policy_deletes_the_callers_own(
    twins: Bot, planetscale: PlanetScaleState
) -> None:
    """bob deletes “Nightly”: his development policy goes (his rule asks no approval); the production one of the
    same name, which he may not see, stays, and nothing says it exists."""
    said = twins.command('delete acme/app-db "Nightly"', user=BOB).all_text()
    assert HIDDEN not in said, said
    assert [c.path.rsplit("/", 1)[-1] for c in planetscale.calls("DELETE")] == [MINE]
    assert HIDDEN in planetscale.policies[("acme", "app-db")]
