"""Review rev19j of issues 19 and 24 (proves, does not fix): the sweep's turns of judging again and the one reading
of the rules, single and bulk."""

from __future__ import annotations

import json
import time

from approval_helpers import ALICE, CAROL, RULES, approvals_bot, sweep
from bulk_helpers import button, channel_messages, grown_before_applying, latest
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.domain.lifecycle import JUDGE_AGAIN_SECONDS
from bot.emulators.planetscale import PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

WEEKLY = "bp02prodwk"  # acme/app-db's production weekly policy, kept 4 weeks; its latest backup 1.25 GB
OVERRIDE_BOUND = RULES.format(approvals=1) + """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "7GB"
override_approvals = 2
"""


def test_a_bulk_policy_sent_back_to_waiting_is_judged_again_by_the_sweep_once_the_rules_allow_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """alice asks in bulk to keep acme/app-db's production weekly policy 5 weeks; carol approves. Its backup grows
    past the 7 GB bound between carol's approval and the read under the lease: the policy is sent back to waiting
    for an override's second approval. The bound is then taken out of the access file. A single request left so
    is applied by the sweep once its turn is due (rev24h, the turns); this member is never judged again: it was
    made `approved` by its bulk change with no turn (`judge_at` unset), and sent back to `pending` with none, so
    it waits until it expires though carol's approval now suffices."""
    now = [time.time()]
    approvals_bot.deps.changes.clock = lambda: now[0]
    approvals_bot.deps.store.clock = lambda: now[0]
    approvals_bot.use_rules(OVERRIDE_BOUND)
    approvals_bot.command('update acme/app-db "Production w*" retention=5w reason="audit"', user=ALICE)
    [message] = channel_messages(approvals_bot)
    with grown_before_applying(approvals_bot, planetscale, WEEKLY, 2_000_000_000):
        approvals_bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    [member] = approvals_bot.deps.store.requests([RequestState.PENDING])
    assert "waiting: its rules now ask for more approvals" in json.dumps(latest(approvals_bot, message).blocks)
    approvals_bot.use_rules(RULES.format(approvals=1))  # the bound is gone: carol's approval is all it needs
    for _ in range(3):
        now[0] += JUDGE_AGAIN_SECONDS + 1
        sweep(approvals_bot)
    after = approvals_bot.deps.store.get_request(member.id)
    assert after is not None and after.expires_at > now[0], "the test outlived the request"
    assert after.state is RequestState.APPLIED, \
        f"a bulk policy sent back to waiting is never judged again by the sweep: still {after.state.value}"
    assert planetscale.policies[("acme", "app-db")][WEEKLY]["retention_value"] == 5
