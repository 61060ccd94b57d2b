"""An access rule that lists a thousand approvers by user ID, or a thousand groups: judging who could approve a
change, and who the rules name, reads each principal of the rule a bounded number of times per decision, not once
for every other principal before it. Counted as principals told apart from groups (`judge_access.is_group`)."""

from __future__ import annotations

import json

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, principal_checks
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackUser
from handlers.blocks import APPROVE

__all__ = ["approvals_bot", "principal_checks"]  # the fixtures, used by name

PEOPLE = 1000
APPROVERS = [f"U{n:09d}" for n in range(PEOPLE)] + [CAROL]  # the one who approves, last of the list
GROUPS = 800
STRANGER = "U0STRANGE01"  # in no group


def test_a_change_and_its_approval_under_a_thousand_approvers_by_id_read_each_a_few_times(
        approvals_bot: Bot, planetscale: PlanetScaleState, principal_checks: list[int]) -> None:
    rules = RULES.replace('approvers = ["@dba-leads"]\napprovals = {approvals}',
                          f"approvers = {json.dumps(APPROVERS)}\napprovals = {{approvals}}")
    assert rules != RULES
    approvals_bot.use_rules(rules.format(approvals=2))
    reply = approvals_bot.command('update acme/app-db "Production daily" retention=9d', channel="C0DBAOPS01")
    assert any("needs 2 approvals" in e.text for e in reply.private), reply.all_text()
    asked = principal_checks[0]
    assert asked <= 20 * len(APPROVERS), asked
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.blocks]
    [value] = [el["value"] for b in message.blocks for el in b.get("elements", []) if el.get("action_id") == APPROVE]
    approvals_bot.click(APPROVE, value, user=CAROL, channel="C0DBAOPS01", message=message)
    assert principal_checks[0] - asked <= 20 * len(APPROVERS), principal_checks[0] - asked
    assert planetscale.calls("PATCH") == []  # one approval of two: still waiting


def test_help_under_a_rule_naming_many_groups_reads_each_group_once(
        approvals_bot: Bot, principal_checks: list[int]) -> None:
    groups = [f"S{n:09d}" for n in range(GROUPS)]
    approvals_bot.slack.add_usergroup(groups[-1], "last-team", [ALICE])
    approvals_bot.use_rules(f'[[rules]]\norganizations = ["acme"]\ndatabases = ["exchange-db"]\n'
                            f'editors = {json.dumps(groups)}\napprovers = ["U0CAROL001"]\napprovals = 1\n')
    text = approvals_bot.command("help", user=ALICE).all_text()
    assert "exchange-db" in text and "Keys for update" in text, text
    assert principal_checks[0] <= 20 * GROUPS, principal_checks[0]


def test_a_command_under_a_rule_naming_many_groups_listed_as_it_asks_reads_each_group_a_few_times(
        approvals_bot: Bot, principal_checks: list[int]) -> None:
    groups = [f"S{n:09d}" for n in range(GROUPS)]
    for n, group in enumerate(groups):
        approvals_bot.slack.add_usergroup(group, f"team-{n}", [CAROL])
    rules = RULES.replace('editors = ["@dba-team"]', f"editors = {json.dumps([*groups, '@dba-team'])}", 1)
    assert rules != RULES
    approvals_bot.use_rules(rules.format(approvals=1))
    reply = approvals_bot.command("list acme/app-db", channel="C0DBAOPS01")
    assert "Production daily" in reply.all_text(), reply.all_text()
    assert principal_checks[0] <= 20 * GROUPS, principal_checks[0]


def test_a_command_under_a_rule_naming_many_groups_slack_does_not_list_reads_each_a_few_times(
        approvals_bot: Bot, principal_checks: list[int]) -> None:
    groups = [f"S{n:09d}" for n in range(GROUPS)]  # deleted in Slack, say: listed by nobody
    rules = RULES.replace('editors = ["@dba-team"]', f"editors = {json.dumps([*groups, '@dba-team'])}", 1)
    approvals_bot.use_rules(rules.format(approvals=1))
    approvals_bot.slack.add_user(SlackUser(STRANGER, "stranger", "A Stranger", "stranger@acme.example"))
    for _ in range(2):  # the groups listed as the first asks, then already listed
        reply = approvals_bot.command("list acme/app-db", user=STRANGER, channel="C0DBAOPS01")
        assert "You are not named in the access rules" in reply.all_text(), reply.all_text()
    assert principal_checks[0] <= 2 * 20 * GROUPS, principal_checks[0]
