"""An approver group of thousands under an access file of hundreds of rules: judging who could approve a change
looks the matching rule up once per place, not once per member of the group for every rule before it."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import CAROL, LEADS, RULES, approvals_bot
from conftest import Bot

from bot.domain import access_rules
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # the fixture, used by name

MEMBERS = 2000
OTHER_RULES = 300  # each for another organization, read before the rules for acme


def long_rules_and_a_big_group(bot: Bot) -> None:
    bot.slack.add_usergroup("S0EVERYONE", "everyone-eng", LEADS + [f"U{n:09d}" for n in range(MEMBERS)])
    others = "".join(f'\n[[rules]]\norganizations = ["other{n}"]\ndatabases = ["*"]\neditors = ["@dba-team"]\n'
                     for n in range(OTHER_RULES))
    head, _, rest = RULES.partition("\n[[rules]]")
    rules = head + others + "\n[[rules]]" + rest.replace('approvers = ["@dba-leads"]\napprovals = {approvals}',
                                                         'approvers = ["@everyone-eng"]\napprovals = {approvals}')
    bot.use_rules(rules.format(approvals=2))


def test_a_change_and_its_approval_look_each_rule_up_a_bounded_number_of_times(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    long_rules_and_a_big_group(approvals_bot)
    looked = [0]
    covers = access_rules.Rule.covers

    def counted(rule: access_rules.Rule, *args: Any) -> bool:
        looked[0] += 1
        return bool(covers(rule, *args))

    monkeypatch.setattr(access_rules.Rule, "covers", counted)
    reply = approvals_bot.command('update acme/app-db "Production daily" retention=9d', channel="C0DBAOPS01")
    assert any("needs 2 approvals" in e.text for e in reply.private), reply.all_text()
    asked = looked[0]
    assert asked <= 20 * OTHER_RULES, asked  # a few places judged, each reading the rules once
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.blocks]
    [value] = [el["value"] for b in message.blocks for el in b.get("elements", []) if el.get("action_id") == APPROVE]
    approvals_bot.click(APPROVE, value, user=CAROL, channel="C0DBAOPS01", message=message)
    assert looked[0] - asked <= 20 * OTHER_RULES, looked[0] - asked
    assert planetscale.calls("PATCH") == []  # one approval of two: still waiting
