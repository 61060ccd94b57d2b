"""A bulk Retry by another person does not carry the first requester's override reason; the edit form's preview
of a move between targets, or past a storage bound, says the approvals the request will ask. Driven through
Bolt's pipeline with the emulators (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from access_rules import guardrail
from approval_helpers import ALICE, BOB, CAROL, LEADS, RULES, approvals_bot, second_instance
from bulk_helpers import button, channel_messages, latest
from conftest import Bot, Reply

from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import Fault, PlanetScaleState
from bot.emulators.slack import SlackEvent, SlackUser
from handlers.bulk_blocks import BULK_APPROVE, BULK_RETRY

__all__ = ["approvals_bot", "second_instance"]  # fixtures, used by name

DEV = "bp03devday"
OVERRIDABLE = RULES.format(approvals=1) + guardrail("production", "pay-*", min_retention="30d", override_approvals=1)


def pay_02_failed(bot: Bot, planetscale: PlanetScaleState) -> SlackEvent:
    """alice's bulk change to 14 days over pay-01 and pay-02, overriding the guardrail with her reason, approved by
    carol: PlanetScale refuses pay-02's PATCH, so its message offers Retry."""
    for name in ("pay-01", "pay-02"):
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")
    bot.use_rules(OVERRIDABLE)
    bot.command('update acme/pay-* "Production daily" retention=14d reason="alice: audit asks 14 days"', user=ALICE)
    [message] = channel_messages(bot)
    planetscale.add_fault(Fault(status=403, method="PATCH", path_contains="/databases/pay-02/", times=1))
    bot.click(BULK_APPROVE, button(message, BULK_APPROVE), user=CAROL, message=message)
    assert planetscale.policies[("acme", "pay-01")]["pay-01-prod"]["retention_value"] == 14
    assert planetscale.policies[("acme", "pay-02")]["pay-02-prod"]["retention_value"] != 14
    return message


def test_a_bulk_retry_by_another_person_does_not_carry_the_first_requesters_reason_as_his_override(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """A guardrail lets a change below 30 days through with one approval and a reason. alice asks 14 days over
    pay-* with her reason; carol approves; PlanetScale refuses pay-02's PATCH, and the message offers Retry. bob
    clicks it: the retry is bob's request, and he gave no reason. Carrying alice's reason as his lets his change
    break the guardrail with a reason nobody gave for it (and records it as his)."""
    message = pay_02_failed(approvals_bot, planetscale)
    retry = approvals_bot.click(BULK_RETRY, button(latest(approvals_bot, message), BULK_RETRY), user=BOB,
                                message=message)
    if [b for b in approvals_bot.deps.store.open_batches() if b.requester == BOB]:
        retried = channel_messages(approvals_bot)[-1]
        approvals_bot.click(BULK_APPROVE, button(retried, BULK_APPROVE), user=CAROL, message=retried)
    assert planetscale.policies[("acme", "pay-02")]["pay-02-prod"]["retention_value"] != 14, \
        "bob's retry broke the guardrail on alice's reason"
    asked = [e for e in approvals_bot.audit.all() if e.action == "requested" and e.actor == BOB]
    assert not [e for e in asked if e.reason and "alice:" in e.reason], \
        f"bob's retry is recorded with alice's reason as his own: {[(e.database, e.reason) for e in asked]}"
    assert "only with a reason" in retry.all_text(), "bob is not told why his retry asked nothing"


def test_a_bulk_retry_by_its_requester_keeps_her_reason(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """The same retry clicked by alice is hers: her reason still stands for the guardrail's override."""
    message = pay_02_failed(approvals_bot, planetscale)
    approvals_bot.click(BULK_RETRY, button(latest(approvals_bot, message), BULK_RETRY), user=ALICE, message=message)
    retried = channel_messages(approvals_bot)[-1]
    approvals_bot.click(BULK_APPROVE, button(retried, BULK_APPROVE), user=CAROL, message=retried)
    assert planetscale.policies[("acme", "pay-02")]["pay-02-prod"]["retention_value"] == 14


def edit_previewed(bot: Bot, values: dict[str, Any]) -> tuple[dict[str, Any], Reply]:
    """alice opens the edit form of the development policy and previews `values`: the form and the preview."""
    bot.command(f"edit acme/app-db {DEV}", user=ALICE)
    form = bot.current_view()
    return form, bot.submit(form, values)


def edit_confirmed(bot: Bot, values: dict[str, Any]) -> dict[str, Any]:
    """The same, confirmed: the preview's view, as alice saw it when she confirmed."""
    form, preview = edit_previewed(bot, values)
    confirm = preview.ack["view"]
    confirm["id"] = form["id"]
    bot.submit(confirm, {})
    return dict(confirm)


SPLIT_GROUPS = """
[approvals]
expire_after = "24h"

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
editors = ["@dba-team"]
approvers = ["@dba-leads", "@security"]
approvals = { "@dba-leads" = 1 }
channels = ["C0DBAOPS01"]

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team"]
approvers = ["@dba-leads", "@security"]
approvals = { "@security" = 1 }
"""


def test_the_edit_forms_preview_of_a_move_counts_what_each_targets_groups_ask(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Development asks one approval from @security, production one from @dba-leads: a move between them must
    satisfy both rules, so it needs two (one from each group). The form's preview must say what the request will
    ask, not the most approvals one rule asks."""
    approvals_bot.slack.add_user(SlackUser("U0SECONLY1", "sec", "Sec Only", "sec@acme.example"))
    approvals_bot.slack.add_usergroup("S0SECURTY1", "security", ["U0SECONLY1", LEADS[1]])
    approvals_bot.use_rules(SPLIT_GROUPS)
    confirm = edit_confirmed(approvals_bot, {"target": "production", "reason": "promote"})
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    assert request.approvals_needed == 2, request
    said = json.dumps(confirm, ensure_ascii=False)
    assert "It needs 2 approvals" in said, \
        f"the preview told alice her move needs other than the {request.approvals_needed} it asks: {said}"


STORAGE_BOUND = RULES.format(approvals=1) + guardrail("development", "app-db", max_storage="10GB",
                                                      override_approvals=1)


def test_the_edit_forms_preview_counts_the_approvals_a_storage_bound_asks(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """Development asks no approval; a storage bound there lets a change past 10 GB through with one approval and
    a reason. alice keeps the development policy's backups 30 days instead of 3 (about 37 GB, as the preview itself
    estimates): the preview must not say it is applied at once when the request then waits for an approval."""
    approvals_bot.use_rules(STORAGE_BOUND)
    confirm = edit_confirmed(approvals_bot, {"retention_value": "30", "reason": "restore drill"})
    [request] = approvals_bot.deps.store.requests([RequestState.PENDING])
    assert request.approvals_needed == 1, request
    said = json.dumps(confirm, ensure_ascii=False)
    assert "It needs 1 approval" in said, \
        f"the preview told alice her change needs other than the {request.approvals_needed} it asks: {said}"


def test_the_edit_forms_preview_refuses_beside_the_retention_what_a_storage_bound_refuses(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    """The same bound without an override refuses the change whatever the approvals: the judge, asked after the
    ack, says so in the form, naming the retention, rather than offering to apply it at once."""
    approvals_bot.use_rules(STORAGE_BOUND.replace("override_approvals = 1\n", ""))
    _, preview = edit_previewed(approvals_bot, {"retention_value": "30"})
    assert preview.ack["response_action"] == "update", preview.ack
    kept = approvals_bot.current_view()
    said = json.dumps(kept, ensure_ascii=False)
    assert kept["callback_id"] == "policy_edit_form", said
    assert "*Keep backups for*: refused by" in said and "at most 10.0 GB allowed" in said, said
    assert planetscale.calls("PATCH") == []
