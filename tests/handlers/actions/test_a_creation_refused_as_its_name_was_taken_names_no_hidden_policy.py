"""A creation asked with approvals, whose name a policy the requester may read in no channel takes while it waits,
through Bolt's real pipeline on SQLite and PostgreSQL: refused under its lease, nothing sent, and that policy's ID
told nowhere (as the name's check when a change is asked tells none)."""

from __future__ import annotations

import json

from access_rules import production_in_db_ops
from approval_helpers import BOB, CAROL, approvals_bot, request_id
from conftest import Bot

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE

__all__ = ["approvals_bot"]  # a fixture, used by name

RANDOM = "C0RANDOM01"
# Production only in #db-ops (bob is no editor nor approver there); development anywhere, with carol's approval.
RULES = production_in_db_ops(["U0BOB00001"], ["U0CAROL001"], 1)
HIDDEN = "bphiddenprod7"


def test_a_creation_whose_name_a_hidden_policy_took_is_refused_without_naming_it(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(RULES)
    approvals_bot.command('create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00',
                          user=BOB, channel=RANDOM)
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None
                 and e.channel == RANDOM]
    # Made in the dashboard while bob's creation waits: a production policy, which bob may read in no channel.
    planetscale.add_policy("acme", "app-db", HIDDEN, name="Nightly", target="production")
    before = len(approvals_bot.slack.events)
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, channel=RANDOM, message=message)
    assert approvals_bot.executor.wait_idle(60)
    assert planetscale.calls("POST") == [], "a second policy named so was made"
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED
    said = reply.all_text() + " ".join(e.text + json.dumps(e.blocks) + json.dumps(e.view or {})
                                       for e in approvals_bot.slack.events[before:])
    assert "Nightly" in said and "Nothing was sent" in said, said
    assert HIDDEN not in said, "the ID of a policy bob may read in no channel was told in #random"
