"""The bulk form's chosen policies are judged on the access rules as they are at submit: one the rules hide from
the person since the form opened (its database, or its target, no longer theirs to see in this channel) was
dropped without a word; it is now told to them alone, by the ID they chose, and the rest asked. Through Bolt."""

from __future__ import annotations

import json

from access_rules import per_database
from approval_helpers import approvals_bot
from conftest import Bot
from test_bulk_edit import add

from bot.emulators.planetscale import PlanetScaleState
from handlers.views.bulk_edit import POLICIES

__all__ = ["approvals_bot"]  # a fixture, used by name

CHOSEN = ["seen-a/seen-a-prod", "seen-b/seen-b-prod", "seen-c/seen-c-prod"]


def test_a_chosen_policy_hidden_since_the_form_opened_is_said_left_out(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    add(planetscale, ["seen-a", "seen-b", "seen-c"])
    approvals_bot.command('edit acme/seen-* "Production *"')
    form = approvals_bot.current_view()
    # seen-b's database is no longer in the rules; seen-c's only for development policies.
    approvals_bot.use_rules(per_database({"seen-a": ["@dba-leads"]})
                            + '\n[[rules]]\norganizations = ["acme"]\ndatabases = ["seen-c"]\n'
                              'targets = ["development"]\neditors = ["@dba-team"]\n')
    approvals_bot.submit(form, {POLICIES: CHOSEN, "retention_value": "21", "retention_unit": "day"})
    said = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert "2 chosen policies are not in it" in said and "do not let you see them in this channel" in said, said
    for left in ("seen-b-prod", "seen-c-prod"):
        assert left in said, said
    assert "Production daily" not in said, said  # by the IDs chosen, never what the rules hide now
    assert planetscale.calls("PATCH") == []
    # The channel, where the rules hide them, is told nothing of them.
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None]
    posted = json.dumps([e.blocks for e in approvals_bot.slack.events if e.channel == message.channel])
    assert "`seen-a`" in posted and "seen-b" not in posted and "seen-c" not in posted, posted


def test_a_form_whose_every_chosen_policy_is_hidden_since_says_so(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    add(planetscale, ["gone-a", "gone-b"])
    approvals_bot.command('edit acme/gone-* "Production *"')
    form = approvals_bot.current_view()
    approvals_bot.use_rules(per_database({"other": ["@dba-leads"]}))
    approvals_bot.submit(form, {POLICIES: ["gone-a/gone-a-prod", "gone-b/gone-b-prod"],
                                "retention_value": "21", "retention_unit": "day"})
    said = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert "let you see none of the chosen policies" in said and "gone-a-prod" in said, said
    assert planetscale.calls("PATCH") == []
