"""A policy the caller's rules hide, named by its ID, through Bolt's real pipeline on SQLite and PostgreSQL: every
door answers as it does for an ID nobody holds."""

from __future__ import annotations

import json
import re

import pytest
from access_rules import by_target
from approval_helpers import approvals_bot
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

BOB = "U0BOB00001"
# bob may see and change production policies only; development ones are alice's.
PRODUCTION_ONLY = by_target(production=(["U0ALICE001", BOB], ["U0CAROL001"], 0),
                            development=(["U0ALICE001"], ["U0CAROL001"], 0))
HIDDEN, NOBODYS = "bp03devday", "bpnosuch99"


def told(bot: Bot, command: str, ref: str) -> str:
    """Everything bob is told, in replies, messages and views, with the reference and Slack's own IDs left out."""
    before = len(bot.slack.events)
    said = bot.command(command.format(ref), user=BOB).all_text() + " ".join(
        e.text + json.dumps(e.blocks) + json.dumps(e.view or {}) for e in bot.slack.events[before:])
    return re.sub(r'"(id|hash)": "[^"]*"', "", said.replace(ref, "REF"))


@pytest.mark.parametrize("command", [
    "show acme/app-db {}", "update acme/app-db {} retention=5d", "update acme/app-db {} retention=5d --dry-run",
    "update acme/app-db {} target=production", "delete acme/app-db {}", "delete acme/app-db {} --dry-run",
    "edit acme/app-db {}", "history acme/app-db {}",
])
def test_a_hidden_policys_id_is_answered_as_an_id_nobody_holds(
    approvals_bot: Bot, planetscale: PlanetScaleState, command: str
) -> None:
    """bob's rules name only production policies of acme/app-db. `delete acme/app-db bp03devday` (and show, update,
    edit) answered 'You may not change development policies of acme/app-db: rule 2 …', where an ID nobody holds is
    'No backup policy … has the ID or exact name': the refusal told him the policy exists and is a development one."""
    approvals_bot.use_rules(PRODUCTION_ONLY)
    assert told(approvals_bot, command, HIDDEN) == told(approvals_bot, command, NOBODYS)
    assert not planetscale.calls("PATCH") and not planetscale.calls("DELETE")
    assert HIDDEN in planetscale.policies[("acme", "app-db")]


@pytest.mark.parametrize("command", [
    'create acme/app-db name="{}" target=production retention=7d frequency=1d at=02:00',
    'update acme/app-db bp01prod12h name="{}"',
    'update acme/app-db bp01prod12h name="{}" --dry-run',
    'update acme/app-* "Production daily" name="{}"',
])
@pytest.mark.parametrize("name", ["Development daily", HIDDEN])
def test_a_name_or_id_only_a_hidden_policy_holds_is_refused_without_saying_a_policy_holds_it(
    approvals_bot: Bot, planetscale: PlanetScaleState, command: str, name: str
) -> None:
    """bob creates a production policy, or renames his own, to “Development daily” (the development policy's name)
    or to “bp03devday” (its ID). Refused, rightly (two of one name are found by neither), but in words that told him
    a policy he may not see holds it: “app-db already has a policy named “Development daily”” and “… is the ID of
    another policy of app-db”. The name is refused without saying why."""
    approvals_bot.use_rules(PRODUCTION_ONLY)
    before = len(approvals_bot.slack.events)
    said = approvals_bot.command(command.format(name), user=BOB).all_text() + " ".join(
        e.text + json.dumps(e.blocks, ensure_ascii=False) for e in approvals_bot.slack.events[before:])
    assert "cannot be used as a name in app-db: choose another name" in said, said
    assert "already has a policy" not in said and "the ID of another policy" not in said, said
    assert HIDDEN not in said.replace(f"“{HIDDEN}”", ""), said  # typed back as the name asked, never as an ID
    assert not planetscale.calls("POST") and not planetscale.calls("PATCH")


def unstamped(said: str) -> str:
    """`said` without what differs between two askings a second apart: a change's ID, and when it would expire."""
    return re.sub(r"<!date\^[0-9]+\^[^>]*>", "<!date>", re.sub(r"`[0-9a-f]{8}`", "", said))


@pytest.mark.parametrize("command", ["list acme/app-db", "status acme/app-db",
                                     "update acme/app-db * retention=1w --dry-run", "export acme/app-db",
                                     "export acme/* json"])
def test_a_hidden_policy_is_not_counted_either(approvals_bot: Bot, planetscale: PlanetScaleState,
                                               command: str) -> None:
    """bob's answers for app-db as it is equal those for app-db without its development policy: list and status
    said “(1 more with targets you may not see)”, a bulk change “1 policy it names has a target the requester may
    not see here”, export “Left out: 1 policy with a target ...”: each told him a development policy exists."""
    approvals_bot.use_rules(PRODUCTION_ONLY)
    with_it = unstamped(told(approvals_bot, command, "unused"))
    del planetscale.policies[("acme", "app-db")][HIDDEN]
    without = unstamped(told(approvals_bot, command, "unused"))
    assert "Production" in with_it and "may not see" not in with_it and "Left out" not in with_it, with_it
    assert with_it == without
