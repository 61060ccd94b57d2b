"""Every refusal the edit form shows comes from the one judge (changes.ask, dry run, expected=opened) on the policy
as PlanetScale holds it, asked after the ack (handlers/views/edit.py `check`): the ack reads nothing. A change the
form's own look at the policy as it was opened would refuse is checked so; a policy moved since is offered fresh,
one still refused is told by the guardrail, its field and the nearest allowed value, with the person's values kept;
nothing is PATCHed; and when the form no longer takes the answer, it goes to them by direct message. Through Bolt's
pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

import pytest
from approval_helpers import ALICE, PROD, RULES, approvals_bot
from conftest import SIGNING_SECRET, Bot, acked_while
from slack_bolt import BoltRequest

from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import MethodFault
from bot.emulators.slack_requests import signed_headers, state_values, view_submission_body

__all__ = ["approvals_bot"]  # a fixture, used by name

FLOOR = """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_retention = "2d"
"""


def initial(view: dict, block_id: str) -> str | None:
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    element = block["element"]
    return (element.get("initial_option") or {}).get("value") or element.get("initial_value")


def direct_messages(bot: Bot, user: str) -> str:
    dm = bot.slack.dm_channel(user)
    return json.dumps([[e.text, e.blocks] for e in bot.slack.events if e.kind == "message" and e.channel == dm],
                      ensure_ascii=False)


def test_a_stale_form_is_not_refused_by_a_guardrail_that_no_longer_covers_the_policy(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.use_rules(RULES.format(approvals=1) + FLOOR)
    bot.command(f"edit acme/app-db {PROD}", user=ALICE)
    form = bot.current_view()
    planetscale.policies[("acme", "app-db")][PROD].update(target="development", required=False)
    judged = bot.command(f"update acme/app-db {PROD} retention=1d --dry-run", user=ALICE).all_text()
    assert "guardrail" not in judged or "none covers this policy" in judged, judged  # the judge takes it
    answer = bot.submit(form, {"retention_value": "1"}, user=ALICE)
    refused = answer.ack.get("errors") or {}
    assert not any("guardrail" in words for words in refused.values()), (
        f"the form refused by a guardrail the judge no longer applies: {refused}")
    shown = bot.current_view()
    assert "changed in PlanetScale" in json.dumps(shown, ensure_ascii=False)
    assert initial(shown, "target") == "development"  # the fresh values, to make the change again on
    assert planetscale.calls("PATCH") == []


def test_a_guardrail_that_still_covers_the_policy_is_refused_by_name_with_the_values_kept(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.use_rules(RULES.format(approvals=1) + FLOOR)
    bot.command(f"edit acme/app-db {PROD}", user=ALICE)
    form = bot.current_view()
    answer = bot.submit(form, {"retention_value": "1", "reason": "cheaper"}, user=ALICE)
    assert answer.ack["response_action"] == "update"
    kept = bot.current_view()
    said = json.dumps(kept, ensure_ascii=False)
    assert kept["callback_id"] == "policy_edit_form"
    assert "guardrail 1" in said and "Keep backups for" in said and "`retention=2d`" in said, said
    assert (initial(kept, "retention_value"), initial(kept, "reason")) == ("1", "cheaper")
    assert planetscale.calls("PATCH") == []
    [refused] = [e for e in bot.audit.all() if e.action == "refused"]
    assert "guardrail 1" in str(refused.detail)
    preview = bot.submit(kept, {"retention_value": "5"}, user=ALICE)  # fixed in the form kept: previewed
    assert "meets guardrail 1" in json.dumps(preview.ack["view"], ensure_ascii=False)
    assert planetscale.calls("PATCH") == []


def test_the_ack_of_a_form_to_check_waits_on_no_read(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    bot = approvals_bot
    bot.use_rules(RULES.format(approvals=1) + FLOOR)
    bot.command(f"edit acme/app-db {PROD}", user=ALICE)
    form = bot.current_view()
    answering = threading.Event()
    planetscale.add_fault(Fault(until=answering, method="GET"))
    body = view_submission_body(user_id=ALICE, user_name=bot.slack.users[ALICE].name, view=form,
                                values=state_values(form, {"retention_value": "1"}))
    try:
        response = acked_while(lambda: bot.app.dispatch(
            BoltRequest(body=body, headers=signed_headers(SIGNING_SECRET, body))))
        assert "Checking your change" in str(response.body)
    finally:
        answering.set()
    assert bot.executor.wait_idle(30)
    assert "guardrail 1" in json.dumps(bot.current_view(), ensure_ascii=False)


@pytest.mark.parametrize("slack_fault", [MethodFault("views.update", error="not_found", times=None),
                                         MethodFault("views.update", status=500, times=None)])
def test_a_refusal_the_form_no_longer_takes_is_told_by_direct_message(
        approvals_bot: Bot, planetscale: PlanetScaleState, slack_fault: MethodFault) -> None:
    bot = approvals_bot
    bot.use_rules(RULES.format(approvals=1) + FLOOR)
    bot.command(f"edit acme/app-db {PROD}", user=ALICE)
    form = bot.current_view()
    bot.slack.add_fault(slack_fault)
    bot.submit(form, {"retention_value": "1"}, user=ALICE)
    told = direct_messages(bot, ALICE)
    assert "guardrail 1" in told and "`retention=2d`" in told and "nothing was sent" in told, told
    assert "the change you previewed in the form" in told, told
    assert planetscale.calls("PATCH") == []


def test_a_policy_gone_while_its_form_was_checked_is_told_as_previewed_by_direct_message(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Not found in PlanetScale when checked, the form closed: the direct message says the change was only
    previewed, never that it was confirmed."""
    bot = approvals_bot
    bot.use_rules(RULES.format(approvals=1) + FLOOR)
    bot.command(f"edit acme/app-db {PROD}", user=ALICE)
    form = bot.current_view()
    with planetscale.lock:
        del planetscale.policies[("acme", "app-db")][PROD]
    bot.slack.add_fault(MethodFault("views.update", error="not_found", times=None))
    bot.submit(form, {"retention_value": "1"}, user=ALICE)
    told = direct_messages(bot, ALICE)
    assert "Not applied" in told, told
    assert "the change you previewed in the form" in told and "confirmed" not in told, told
    assert planetscale.calls("PATCH") == []
