"""A rule asking one approval from each of two groups: the change applies only after both, judged when it
applies, and the message, the thread and the clicker say which group is still missing."""

from __future__ import annotations

from approval_helpers import CAROL, LEADS, RULES, approvals_bot, ask, latest_view, request_id, thread_of
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import SlackUser
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

TWO_GROUPS = RULES.format(approvals='{ "@dba-leads" = 1, "@security" = 1 }')
BOTH = LEADS[1]  # in @dba-leads and in @security


def with_security(bot: Bot, rules: str = TWO_GROUPS) -> Bot:
    bot.slack.add_usergroup("S0SECURTY1", "security", [BOTH, "U0SECONLY1"])
    bot.slack.add_user(SlackUser("U0SECONLY1", "sec", "Sec Only", "sec@acme.example"))
    bot.use_rules(rules)
    return bot


def test_one_from_each_group_and_the_missing_group_is_named(approvals_bot: Bot,
                                                             planetscale: PlanetScaleState) -> None:
    bot = with_security(approvals_bot)
    message = ask(bot)
    assert "<!subteam^S0DBALEAD1>: 0 of 1" in latest_view(bot, message)
    reply = bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    reply_again = bot.click(APPROVE, request_id(message), user=LEADS[2], message=message)  # @dba-leads again
    assert planetscale.calls("PATCH") == []
    assert "Still missing: 1 from @security" in reply.all_text() + reply_again.all_text()
    shown = latest_view(bot, message)
    assert "<!subteam^S0DBALEAD1>: 1 of 1 (<@U0CAROL001>)" in shown
    assert "<!subteam^S0SECURTY1>: 0 of 1, 1 missing" in shown
    assert thread_of(bot, message)[0] == (":white_check_mark: <@U0CAROL001> approved (1 of 2); still missing 1 "
                                          "from <!subteam^S0SECURTY1>.")
    bot.click(APPROVE, request_id(message), user="U0SECONLY1", message=message)
    assert len(planetscale.calls("PATCH")) == 1
    assert thread_of(bot, message)[-1].startswith(":white_check_mark: Applied to PlanetScale")


def test_someone_in_both_groups_counts_where_the_others_cannot(approvals_bot: Bot,
                                                               planetscale: PlanetScaleState) -> None:
    bot = with_security(approvals_bot)
    message = ask(bot)
    bot.click(APPROVE, request_id(message), user=BOTH, message=message)  # could count for either group
    assert planetscale.calls("PATCH") == []
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)  # only @dba-leads: BOTH moves over
    assert len(planetscale.calls("PATCH")) == 1


def test_groups_are_judged_again_when_the_change_applies(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = with_security(approvals_bot, RULES.format(approvals=1))
    message = ask(bot)  # under one approval from @dba-leads
    bot.use_rules(TWO_GROUPS)  # the rules tighten before anyone approves
    reply = bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "1 from @security" in reply.all_text()
    assert "<!subteam^S0SECURTY1>: 0 of 1, 1 missing" in latest_view(bot, message)


def test_an_override_asking_more_approvals_than_the_groups_hold_applies_once_it_has_them(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES.format(approvals='{ "@dba-leads" = 1 }') + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_retention = "2d"
override_approvals = 2
""")
    message = ask(approvals_bot, 'update acme/app-db bp01prod12h retention=1d reason="restore drill"')
    approvals_bot.click(APPROVE, request_id(message), user=LEADS[0], message=message)
    assert planetscale.calls("PATCH") == []  # the group has its one, the override asks two
    assert "1 more" in latest_view(approvals_bot, message) or "1 of 2" in latest_view(approvals_bot, message)
    approvals_bot.click(APPROVE, request_id(message), user=LEADS[1], message=message)
    assert len(planetscale.calls("PATCH")) == 1
