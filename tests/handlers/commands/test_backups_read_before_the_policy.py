"""An approved change under a `max_storage` bound reads its target's backups under the lease before it reads the
policy, as the send's fence does when it judges again: read after, on a PlanetScale slow enough that forty
branches' reads take longer than FRESH_SECONDS, they made the policy's read stale at the write, and the fence
read every branch a third time (the approval's judging, the apply's, the fence's). Through Bolt's pipeline, on
SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from access_rules import storage_bound
from approval_helpers import ALICE, CAROL, RULES, approvals_bot, request_id, request_message
from conftest import Bot
from test_storage_estimate_branches import backup_reads, database_with_branches

from bot.domain.ports import FRESH_SECONDS
from bot.emulators.planetscale import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]

BRANCHES = 40
READ_SECONDS = 0.2  # each backup read, on the bot's clock: forty take longer than FRESH_SECONDS
# Development policies need one approval here, in #db-ops.
DEV_NEEDS_ONE = RULES.replace('targets = ["development"]\neditors = ["@dba-team"]\napprovers = ["@dba-leads"]\n',
                              'targets = ["development"]\neditors = ["@dba-team"]\napprovers = ["@dba-leads"]\n'
                              'approvals = 1\nchannels = ["C0DBAOPS01"]\n')


def test_an_approved_change_under_a_storage_bound_reads_each_branch_once_under_its_lease(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    assert DEV_NEEDS_ONE != RULES and BRANCHES * READ_SECONDS > FRESH_SECONDS
    now = [time.time()]
    approvals_bot.deps.changes.clock = approvals_bot.deps.store.clock = lambda: now[0]
    client = approvals_bot.deps.changes.planetscale
    list_backups = client.list_backups

    def slow(*args: Any, **kwargs: Any) -> Any:  # a PlanetScale slow to list backups, on the bot's clock
        now[0] += READ_SECONDS
        return list_backups(*args, **kwargs)

    client.list_backups = slow  # type: ignore[method-assign]
    database_with_branches(planetscale, "many", BRANCHES)
    approvals_bot.use_rules(DEV_NEEDS_ONE.format(approvals=1) + storage_bound("development", "2.1TB"))
    approvals_bot.command('update acme/many "Dev daily" retention=5d', user=ALICE)
    message = request_message(approvals_bot)
    before = backup_reads(planetscale)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message).all_text()
    assert len(planetscale.calls("PATCH")) == 1, reply
    assert planetscale.policies[("acme", "many")]["many-dev"]["retention_value"] == 5
    # The approval judged on the backups as they are, then the apply under the lease: twice, never a third time.
    assert backup_reads(planetscale) - before == 2 * BRANCHES
