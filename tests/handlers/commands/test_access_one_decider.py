"""Through Bolt: the doors' access answers are the judge's. While Slack cannot list the user groups, someone
the rules name directly is named, wherever the rule lists them: the order of a rule's principals decides
nothing, and a target a failed listing hides is hidden, not a crash."""

from __future__ import annotations

import pytest
from conftest import CHANNEL, Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault

BOB = "U0BOB00001"
DEV, PROD = "bp03devday", "bp01prod12h"


def rules_text(dev_editors: str, prod_editors: str = '["@dba-team"]') -> str:
    return f"""
[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
editors = {prod_editors}
approvers = ["@dba-leads"]
approvals = 0

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = {dev_editors}
approvers = ["@dba-leads"]
approvals = 0
"""


def text(reply: object) -> str:
    return reply.all_text()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("editors", [f'["{BOB}", "@dba-team"]', f'["@dba-team", "{BOB}"]'])
def test_someone_named_directly_changes_while_the_groups_cannot_be_listed_whatever_the_order(
    bot: Bot, planetscale: PlanetScaleState, editors: str
) -> None:
    bot.use_rules("[[rules]]" + rules_text(editors).split("[[rules]]")[2])  # the development rule alone
    bot.slack.add_fault(MethodFault("usergroups.list", error="missing_scope", times=None))
    reply = bot.command(f"update acme/app-db {DEV} retention=5d", user=BOB, channel=CHANNEL)
    assert [r.body for r in planetscale.calls("PATCH")] == [{"retention_value": 5, "retention_unit": "day"}], \
        text(reply)
    assert len(reply.public) == 1


def test_a_target_whose_rule_needs_the_groups_is_hidden_while_they_cannot_be_listed(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    # bob is named directly by the production rule; the development rule names only a group
    bot.use_rules(rules_text('["@dba-team"]', f'["{BOB}"]'))
    bot.slack.add_fault(MethodFault("usergroups.list", error="missing_scope", times=None))
    shown = text(bot.command("list acme/app-db", user=BOB, channel=CHANNEL))
    assert "Production daily" in shown and "Development daily" not in shown
    assert "went wrong" not in shown
