"""Several open bulk changes over the same databases (asked again with other values, or retried), under a rule
whose approvers are hundreds of groups: opening the Home or `/backup-policy pending` judges each place once, not
once for every bulk change holding a policy there. A decision reads each principal of its rules, so the old cost
was bulk changes × policies × groups; counted as principals told apart from groups (`judge_access.is_group`)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from approval_helpers import ALICE, CAROL, DAVE, RULES
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from approval_helpers import principal_checks as principal_checks  # the fixture
from bulk_helpers import button, channel_messages
from conftest import Bot
from home_helpers import open_home

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

GROUPS = 300
DATABASES = 50
BULK_CHANGES = 10


def test_open_bulk_changes_over_one_fleet_are_judged_once_a_place_for_the_home_and_pending(
        approvals_bot: Bot, planetscale: PlanetScaleState, principal_checks: list[int]) -> None:
    bot = approvals_bot
    groups = [f"S{n:09d}" for n in range(GROUPS)]
    for n, group in enumerate(groups):
        bot.slack.add_usergroup(group, f"team-{n}", [CAROL])
    for n in range(DATABASES):
        planetscale.add_database("acme", f"fleet-{n:02d}")
        planetscale.add_policy("acme", f"fleet-{n:02d}", f"fleet-{n:02d}-prod", name="Production daily",
                               target="production")
    bot.command("update acme/fleet-* * retention=14d", user=ALICE)
    [message] = channel_messages(bot)
    first = bot.deps.store.get_batch(button(message, BULK_APPROVE))
    assert first is not None and len(first.planned) == DATABASES
    for n in range(BULK_CHANGES - 1):  # others over the same fleet, asked before it
        bot.deps.store.add_batch(replace(first, id=str(uuid.uuid4()), message_channel=None, message_ts=None,
                                         created_at=first.created_at - 1000 + n))
    rules = RULES.replace('approvers = ["@dba-leads"]', f"approvers = {json.dumps(groups)}")
    assert rules != RULES
    bot.use_rules(rules.format(approvals=1))
    once_a_place = DATABASES * GROUPS
    for user, listed in ((DAVE, False), (CAROL, True)):  # someone in none of the groups, someone in all
        principal_checks[0] = 0
        home = json.dumps(open_home(bot, user)["blocks"], ensure_ascii=False)
        assert (f"…and {BULK_CHANGES - 5} more not shown." in home) is listed, home[-1500:]
        assert principal_checks[0] <= 2 * once_a_place, (user, principal_checks[0])
        principal_checks[0] = 0
        said = bot.command("pending", user=user).all_text()
        assert (f"Open bulk changes you can act on* ({BULK_CHANGES})" in said) is listed, said[:800]
        assert principal_checks[0] <= 2 * once_a_place, (user, principal_checks[0])
