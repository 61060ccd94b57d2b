"""A write that its fence judged again (the access file reloaded while the policy was read under the lease) leaves
on that second verdict: the request, its audit entry and its message say what that verdict asked and counted,
never what the first judging under rules no longer in force did. Through Bolt's pipeline and the emulators, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from access_rules import production_asks
from approval_helpers import CAROL, PROD, approvals_bot, ask, latest_view, request_id, thread_of
from conftest import Bot
from test_judged_on_the_rules_in_force_when_sent import WEEKLY, reloaded_during_the_read

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2 = "U0LEAD0002"


@pytest.mark.parametrize(("asked", "method"), [(f"update acme/app-db {PROD} retention=5d", "PATCH"),
                                                (f"delete acme/app-db {WEEKLY}", "DELETE")])
def test_a_write_sent_on_the_rules_reloaded_under_its_lease_is_recorded_as_they_judged_it(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch, asked: str,
        method: str) -> None:
    """Production asks two approvals of @dba-leads; lead 2 gives one. As carol gives the second, the access file
    is reloaded while the policy is read under the lease: one approval, of lead 2 alone. Judged again at the
    fence, the write leaves on lead 2's approval (right), yet the request, its audit entry, its message and its
    thread said "approved by carol, the last of 2 approvals", @dba-leads the approvers: what rules no longer in
    force asked."""
    bot = approvals_bot
    bot.use_rules(production_asks(2))
    message = ask(bot, asked)
    bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    reloaded_during_the_read(bot, monkeypatch, production_asks(1, LEAD2))
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert len(planetscale.calls(method)) == 1
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.APPLIED, request
    judged = (request.approvals_needed, request.approvers, request.counted, request.decided_by)
    assert judged == (1, [LEAD2], [LEAD2], LEAD2), judged
    [applied] = [e for e in bot.audit.all() if e.request_id == request.id and e.action == "applied"]
    assert applied.detail == f"approved by @{LEAD2}", applied.detail
    [said] = [t for t in thread_of(bot, message) if "Applied" in t or "Deleted" in t]
    assert "of 2" not in said and f"by <@{LEAD2}>" in said, said
    shown = latest_view(bot, message)
    assert f"*Approvals:* 1 of 1 (<@{LEAD2}>)" in shown and "subteam" not in shown, json.loads(shown)


def test_a_write_whose_rule_was_removed_under_its_lease_is_refused_in_one_sentence(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """The access file, reloaded while the policy is read under the lease, no longer covers production: the fence
    refuses the write, and its thread and record say why once (they read "add one.. Nothing was sent.")."""
    bot = approvals_bot
    bot.use_rules(production_asks(1))
    message = ask(bot, f"update acme/app-db {PROD} retention=5d")
    reloaded_during_the_read(bot, monkeypatch, production_asks(1).replace('"production"', '"development"'))
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED, request
    [said] = [t for t in thread_of(bot, message) if "Not applied" in t]
    [failed] = [e for e in bot.audit.all() if e.request_id == request.id and e.action == "failed"]
    for told in (said, failed.detail or ""):
        assert "No access rule covers production" in told and ".." not in told, told
