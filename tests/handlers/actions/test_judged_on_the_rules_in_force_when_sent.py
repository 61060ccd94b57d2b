"""Issue 19: a write leaves only on the access rules in force when it leaves. The rules are read before the policy
(they say which facts to gather), and the read under the lease may be slow (pages, a slow PlanetScale): rules
reloaded meanwhile judge the change again before the write, even though no wait was told. Through Bolt's pipeline
and the emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from access_rules import storage_bound
from approval_helpers import ALICE, CAROL, PROD, RULES, approvals_bot, ask, latest_view, request_id
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # fixtures, used by name

DEV = "bp03devday"  # development: a change applies at once, with no approval
WEEKLY = "bp02prodwk"  # production, and not a required policy: it may be deleted
# Carol is no longer an approver of production changes.
WITHOUT_CAROL = RULES.format(approvals=1).replace('approvers = ["@dba-leads"]\napprovals',
                                                  'approvers = ["U0LEAD0002"]\napprovals')
# Development changes need an approval now.
DEV_ASKS = RULES.format(approvals=1) + "approvals = 1\n"


def reloaded_during_the_read(bot: Bot, monkeypatch: pytest.MonkeyPatch, rules: str) -> None:
    """The access file is reloaded while the next list of the policies is read."""
    policies = bot.deps.changes.policies
    real = policies.list_policies
    done = [False]

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        listed = real(*args, **kwargs)
        if not done[0]:
            done[0] = True
            bot.use_rules(rules)
        return listed

    monkeypatch.setattr(policies, "list_policies", slow_read)


@pytest.mark.parametrize(("asked", "method"), [(f"update acme/app-db {PROD} retention=5d", "PATCH"),
                                                (f"delete acme/app-db {WEEKLY}", "DELETE")])
def test_an_approval_whose_approver_the_rules_drop_during_the_read_under_the_lease_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch, asked: str,
        method: str) -> None:
    """alice asks a production change (or deletion); carol approves it. While the bot reads the policy under its
    lease, the access file is reloaded: carol is no longer an approver. Judged on the rules read before that read,
    carol's approval sends the write, which the rules in force refuse (no approval that counts)."""
    message = ask(approvals_bot, asked)
    reloaded_during_the_read(approvals_bot, monkeypatch, WITHOUT_CAROL)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls(method) == [], f"sent on carol's approval, which no longer counts: {reply.all_text()}"
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.PENDING, request
    assert "Applied" not in reply.all_text(), reply.all_text()
    assert "no longer counted: <@U0CAROL001>" in reply.all_text(), reply.all_text()
    assert "*Approvals:* 0 of 1" in latest_view(approvals_bot, message)


def test_a_change_asked_with_no_approval_whose_rules_ask_one_by_the_time_it_leaves_sends_nothing(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's change of a development policy needs no approval, and a storage bound covers it: under the lease,
    the bot reads the policy, then the rules, then the backups to judge the bound. While the backups are read, the
    access file is reloaded: development changes need an approval now. Nothing is sent before someone gives it."""
    approvals_bot.use_rules(RULES.format(approvals=1) + storage_bound("development", "1PB"))
    api = approvals_bot.deps.changes.policies.planetscale
    real = api.list_backups
    reloaded = [False]

    def backups_read_slowly(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if not reloaded[0]:
            reloaded[0] = True
            approvals_bot.use_rules(DEV_ASKS + storage_bound("development", "1PB"))
        return found

    monkeypatch.setattr(api, "list_backups", backups_read_slowly)
    reply = approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)
    assert reloaded[0], "the backups were not read"
    assert planetscale.calls("PATCH") == [], f"sent with no approval under rules asking one: {reply.all_text()}"
    [request] = approvals_bot.deps.store.requests(list(RequestState))
    assert request.state is not RequestState.APPLIED, reply.all_text()
    assert request.state is RequestState.PENDING and request.approvals_needed == 1, request
    assert "needs 1 approval" in reply.all_text(), reply.all_text()
