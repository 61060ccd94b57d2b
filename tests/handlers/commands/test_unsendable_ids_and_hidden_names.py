"""Policy IDs no path can hold, names only a hidden policy holds, and bulk renames into one name, through Bolt's
real pipeline on SQLite and PostgreSQL; each test names what it proves."""

from __future__ import annotations

import json

import pytest
from access_rules import by_target
from approval_helpers import CAROL, RULES, approvals_bot
from bulk_helpers import button, channel_messages, latest
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

LONG_ID = "bp" + "x" * 127  # 129 characters: PlanetScale lists it, the bot's paths refuse it


def test_a_listed_policy_whose_id_no_path_can_hold_is_not_asked_for(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """PlanetScale lists a policy whose ID the bot can never send (129 characters; segment() allows 128). The bulk
    change offered it for approval like the others, carol approved it, and only then it failed, after its lease
    and 'sending' record, as 'PlanetScale failed: … is not a valid policy ID' with a retry offered that can never
    succeed. The judge refuses it when asked, with why: never put to the approver, never leased, never retried."""
    approvals_bot.use_rules(RULES.format(approvals=1))
    for name in ("ln-01", "ln-02"):
        planetscale.add_database("acme", name)
    planetscale.add_policy("acme", "ln-01", "ln-01-prod", name="Production daily", target="production")
    planetscale.add_policy("acme", "ln-02", LONG_ID, name="Production daily", target="production")
    approvals_bot.command('update acme/ln-* "Production daily" retention=14d')
    [message] = channel_messages(approvals_bot)
    asked = json.dumps(message.blocks, ensure_ascii=False) + message.text
    approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    ended = json.dumps(latest(approvals_bot, message).blocks, ensure_ascii=False)
    assert planetscale.policies[("acme", "ln-01")]["ln-01-prod"]["retention_value"] == 14
    assert "not a valid policy ID" not in ended, ended  # it failed only after the approval
    assert "Retry" not in ended, ended
    assert "`ln-02` *Production daily*: the change does not hold on it" in asked, asked
    assert "cannot send any change to it" in asked, asked
    assert not [e for e in approvals_bot.audit.all() if e.database == "ln-02" and e.action == "failed"]


def test_such_a_policy_asked_alone_is_refused_before_anything_is_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1))
    planetscale.add_policy("acme", "app-db", LONG_ID, name="Long", target="production")
    said = approvals_bot.command('update acme/app-db "Long" retention=14d').all_text()
    assert "cannot send any change to it" in said, said
    assert not channel_messages(approvals_bot) and not planetscale.calls("PATCH")
    said = approvals_bot.command('delete acme/app-db "Long"').all_text()
    assert "cannot send any change to it" in said, said
    assert not channel_messages(approvals_bot) and not planetscale.calls("DELETE")


BOB = "U0BOB00001"
# alice may see and change everything; bob only development policies.
BY_TARGET = by_target(production=(["U0ALICE001"], ["U0CAROL001"], 0),
                      development=(["U0ALICE001", BOB], ["U0CAROL001"], 0))


@pytest.mark.parametrize("command", ['show acme/app-db "{}"', 'update acme/app-db "{}" retention=5d',
                                     'delete acme/app-db "{}"', 'update acme/app-db "{}" name="Other"'])
def test_a_name_only_a_hidden_policy_holds_is_answered_as_no_policy_of_that_name(
    approvals_bot: Bot, planetscale: PlanetScaleState, command: str
) -> None:
    """bob may see development policies only. A name held by a production policy alone was taken for that policy
    and refused by its rules ('You may not see production policies of acme/app-db'), while a name nobody holds is
    'No backup policy … has the ID or exact name': the two answers tell him a production policy of that name
    exists. README: a policy the rules hide from you is never named to you, nor taken for a name."""
    approvals_bot.use_rules(BY_TARGET)
    planetscale.add_policy("acme", "app-db", "bphiddenonly", name="Secretname", target="production")

    def told(name: str) -> str:
        before = len(approvals_bot.slack.events)
        approvals_bot.command(command.format(name), user=BOB)
        return " ".join(e.text + json.dumps(e.blocks) for e in approvals_bot.slack.events[before:]) \
            .replace(name, "NAME")

    assert told("Secretname") == told("Nosuchname")
    assert not planetscale.calls("PATCH") and not planetscale.calls("DELETE")


def test_a_bulk_rename_never_leaves_two_policies_of_one_name_in_a_database(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Two policies of one database both matched by the glob, renamed to one name in one bulk change: each is
    judged alone against the database as read, where the name is free. Held: the asking counts the names its own
    planned renames take (the second is told “rn-01 already has a policy named “Same” (`rn-a`)”)."""
    approvals_bot.use_rules(RULES.format(approvals=1))
    planetscale.add_database("acme", "rn-01")
    planetscale.add_policy("acme", "rn-01", "rn-a", name="Tier A", target="production")
    planetscale.add_policy("acme", "rn-01", "rn-b", name="Tier B", target="production")
    approvals_bot.command('update acme/rn-* "Tier *" name="Same"')
    messages = channel_messages(approvals_bot)
    if messages:
        approvals_bot.click(BULK_APPROVE, button(messages[0], BULK_APPROVE), user=CAROL, message=messages[0])
    names = [p["name"] for p in planetscale.policies[("acme", "rn-01")].values()]
    assert names.count("Same") <= 1, names
