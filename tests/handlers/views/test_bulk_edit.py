"""The bulk form through Bolt: `edit <org>/<glob>` lists the policies it names in a multi-select; the chosen set
is asked as one bulk change, approved once and applied policy by policy."""

from __future__ import annotations

import json

from approval_helpers import CAROL, approvals_bot
from conftest import Bot

from bot.emulators.planetscale import Fault, PlanetScaleState
from handlers.bulk_blocks import BULK_APPROVE
from handlers.views.bulk_edit import BULK_FORM, POLICIES

__all__ = ["approvals_bot"]  # a fixture, used by name


def add(planetscale: PlanetScaleState, names: list[str]) -> None:
    for name in names:
        planetscale.add_database("acme", name)
        planetscale.add_policy("acme", name, f"{name}-prod", name="Production daily", target="production")


def options(view: dict[str, object]) -> list[str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == POLICIES)  # type: ignore[attr-defined]
    return [o["value"] for o in block["element"]["options"]]


def test_the_form_changes_only_the_chosen_policies_after_one_approval(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    add(planetscale, ["form-a", "form-b", "form-c"])
    approvals_bot.command('edit acme/form-* "Production *"')
    form = approvals_bot.current_view()
    assert form["callback_id"] == BULK_FORM
    assert options(form) == ["form-a/form-a-prod", "form-b/form-b-prod", "form-c/form-c-prod"]
    reply = approvals_bot.submit(form, {POLICIES: ["form-a/form-a-prod", "form-c/form-c-prod"],
                                        "retention_value": "21", "retention_unit": "day", "reason": "audit"})
    assert reply.ack["response_action"] == "update"
    assert planetscale.calls("PATCH") == []
    assert "waits for approval" in json.dumps(approvals_bot.current_view())
    [message] = [e for e in approvals_bot.slack.events if e.kind == "message" and e.thread_ts is None]
    batch_id = next(el["value"] for b in message.blocks for el in b.get("elements", [])
                    if el.get("action_id") == BULK_APPROVE)
    approvals_bot.click(BULK_APPROVE, batch_id, user=CAROL, message=message)
    assert sorted(c.path.split("/")[4] for c in planetscale.calls("PATCH")) == ["form-a", "form-c"]
    assert planetscale.policies[("acme", "form-b")]["form-b-prod"]["retention_value"] == 2
    assert planetscale.policies[("acme", "form-a")]["form-a-prod"]["retention_value"] == 21


def test_a_number_without_its_unit_or_no_setting_at_all_is_answered_beside_the_field(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    add(planetscale, ["half-a"])
    approvals_bot.command("edit acme/half-*")
    form = approvals_bot.current_view()
    reply = approvals_bot.submit(form, {"retention_value": "21"})
    assert reply.ack["response_action"] == "errors" and "retention_unit" in reply.ack["errors"]
    reply = approvals_bot.submit(form, {})
    assert reply.ack["response_action"] == "errors" and "Nothing to change" in json.dumps(reply.ack["errors"])
    reply = approvals_bot.submit(form, {POLICIES: [], "frequency_value": "1", "frequency_unit": "day"})
    assert "Choose at least one policy" in json.dumps(reply.ack["errors"])
    assert planetscale.calls("PATCH") == []


def test_the_form_counts_and_says_why_the_policies_it_leaves_out_are_not_listed_or_not_asked(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    add(planetscale, ["left-a", "left-b", "left-c"])
    planetscale.policies[("acme", "left-c")]["left-c-prod"].update(retention_value=21, retention_unit="day")
    planetscale.add_fault(Fault(status=500, method="GET", path_contains="/databases/left-b/backup-policies",
                                times=None))
    approvals_bot.command('edit acme/left-* "Production *"')
    form = approvals_bot.current_view()
    assert options(form) == ["left-a/left-a-prod", "left-c/left-c-prod"]
    said = json.dumps(form, ensure_ascii=False)
    assert "Not listed" in said and "`left-b`: could not be read" in said, said
    planetscale.faults.clear()
    approvals_bot.submit(form, {POLICIES: ["left-a/left-a-prod", "left-c/left-c-prod"],
                                "retention_value": "21", "retention_unit": "day"})
    done = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert "1 chosen policy was left out" in done and "left-c" in done and "already as asked" in done, done
