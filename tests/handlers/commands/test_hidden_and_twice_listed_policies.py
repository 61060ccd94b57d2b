"""Policies the caller may not see, and policies PlanetScale lists twice, through Bolt's real pipeline on SQLite
and PostgreSQL; each test names what it proves."""

from __future__ import annotations

from typing import Any

import pytest
from access_rules import by_target, guardrail
from approval_helpers import CAROL, approvals_bot, request_id
from approval_helpers import RULES as APPROVALS
from bulk_helpers import button, channel_messages, latest
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE
from handlers.bulk_blocks import BULK_APPROVE

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


class ListedTwice(dict[str, Any]):
    """A database's policies in the emulator, one of them listed twice (as a list read page by page while the
    policies shift between two pages holds it): read by its ID, changed and deleted as usual."""

    def __init__(self, policies: dict[str, Any], twice: str):
        super().__init__(policies)
        self.twice = twice

    def values(self) -> list[Any]:  # type: ignore[override]
        listed = list(super().values())
        return [*listed, self[self.twice]] if self.twice in self else listed


def listed_twice(planetscale: PlanetScaleState, database: str, twice: str) -> None:
    planetscale.policies[("acme", database)] = ListedTwice(planetscale.policies[("acme", database)], twice)


def test_a_policy_listed_twice_does_not_let_a_deletion_break_the_floor_of_policies(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """acme/fl keeps at least two production policies (min_policies = 2) and has two, A and B. PlanetScale lists
    B twice (a list read page by page while it shifts). alice asks to delete A and carol approves: the floor was
    counted on the list as read, three, and A was deleted, leaving one production policy under a floor of two."""
    approvals_bot.use_rules(APPROVALS.format(approvals=1) + guardrail("production", min_policies=2))
    planetscale.add_database("acme", "fl")
    planetscale.add_policy("acme", "fl", "fl-a", name="A", target="production")
    planetscale.add_policy("acme", "fl", "fl-b", name="B", target="production")
    listed_twice(planetscale, "fl", "fl-b")
    approvals_bot.command("delete acme/fl A", user=ALICE)
    asked = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
             and e.channel in approvals_bot.slack.channels]
    if asked:  # asked on the miscounted list: the approval must still keep the floor
        approvals_bot.click(APPROVE, request_id(asked[0]), user=CAROL, message=asked[0])
    assert planetscale.calls("DELETE") == []
    assert sorted(planetscale.policies[("acme", "fl")]) == ["fl-a", "fl-b"]


def test_a_policy_listed_twice_is_one_policy_of_a_bulk_change_applied_once_and_told_applied(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """acme/dup has two production policies; PlanetScale lists the first twice. alice's bulk change to keep them
    14 days asked to change '3 backup policies', planned the first twice, and after carol's approval told it
    'not applied, it changed in PlanetScale since the request: retention_value is now 14' (the bot's own change),
    recorded a failure, and offered to retry it."""
    planetscale.add_database("acme", "dup")
    planetscale.add_policy("acme", "dup", "dup-1", name="P1", target="production")
    planetscale.add_policy("acme", "dup", "dup-2", name="P2", target="production")
    listed_twice(planetscale, "dup", "dup-1")
    approvals_bot.command("update acme/dup * retention=14d", user=ALICE)
    [message] = channel_messages(approvals_bot)
    assert "2 backup policies" in message.text, message.text
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    told = str(latest(approvals_bot, message).blocks)
    assert "Applied to 2 of 2" in told and "not applied" not in told, told
    assert sorted(c.path.rsplit("/", 1)[-1] for c in planetscale.calls("PATCH")) == ["dup-1", "dup-2"]
    assert not [e for e in approvals_bot.audit.all() if e.action == "failed"]


@pytest.mark.parametrize("command", [
    'create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00',
    'update acme/app-db bp03devday name="Secret"',
    'update acme/* "Development daily" name="Secret"',
])
def test_a_name_taken_by_a_policy_the_caller_may_not_see_is_refused_without_naming_it(
    twins: Bot, planetscale: PlanetScaleState, command: str
) -> None:
    """bob creates a development policy named “Nightly”, or renames his development policy to “Secret” (alone or
    in bulk), names that a production policy he may not see holds. The refusal is right (two policies of one name
    are found by neither), but said “acme/app-db already has a policy named “…” (`bphiddenprod`)”: the hidden
    policy's ID. It names the taken name's policy only when he may see it (here, his own “Nightly”)."""
    planetscale.policies[("acme", "app-db")][HIDDEN]["name"] = "Secret" if "Secret" in command else "Nightly"
    said = twins.command(command, user=BOB).all_text() + str([e.text for e in twins.slack.events])
    assert HIDDEN not in said, said
    if "create" in command:
        assert "already has a policy named" in said and MINE in said  # the one of that name he may see is named
    else:  # only the hidden policy holds it: refused without saying why (test_a_hidden_policy_by_its_id.py)
        assert "cannot be used as a name" in said and "already has a policy" not in said, said
    assert planetscale.calls("POST") == [] and planetscale.calls("PATCH") == []
