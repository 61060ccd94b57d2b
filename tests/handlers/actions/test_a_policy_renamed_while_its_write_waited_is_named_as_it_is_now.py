"""A policy renamed in PlanetScale while its write waited at the fence (the access file reloaded during the read
under the lease) is named as the fence's read found it, as a rename before that read is: the request, its audit
entry and its thread say the name it has now. Through Bolt's pipeline and the emulators, on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from approval_helpers import CAROL, PROD, RULES, approvals_bot, ask, request_id, thread_of
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

NEW_NAME = "Production twice daily"


def test_a_policy_renamed_before_the_fences_read_is_recorded_under_its_new_name(
        approvals_bot: Bot, planetscale: PlanetScaleState, monkeypatch: pytest.MonkeyPatch) -> None:
    """alice asks a production change; carol approves. The bot reads the policy under its lease; meanwhile the
    access file is reloaded (the same rules) and someone renames the policy in PlanetScale's dashboard. The
    fence reads it again, judges it again and sends it, yet the record and the thread named it as before."""
    bot = approvals_bot
    message = ask(bot, f"update acme/app-db {PROD} retention=5d")
    policies = bot.deps.changes.policies
    real = policies.list_policies
    done = [False]

    def renamed_after_the_read(*args: Any, **kwargs: Any) -> Any:
        listed = real(*args, **kwargs)
        if not done[0]:
            done[0] = True
            planetscale.dashboard_change("acme", "app-db", PROD, name=NEW_NAME)
            bot.use_rules(RULES.format(approvals=1))
        return listed

    monkeypatch.setattr(policies, "list_policies", renamed_after_the_read)
    bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert done[0] and planetscale.policy("acme", "app-db", PROD)["retention_value"] == 5
    request = bot.deps.store.get_request(request_id(message))
    assert request is not None and request.policy_name == NEW_NAME, request
    [applied] = [e for e in bot.audit.all() if e.request_id == request.id and e.action == "applied"]
    assert applied.policy_name == NEW_NAME, applied.policy_name
    assert any(NEW_NAME in t for t in thread_of(bot, message)) or NEW_NAME in bot.slack.events[-1].text, \
        [e.text for e in bot.slack.events]
