"""Guardrails in every door (command, dry run, modal, revert, approval) and again when a request applies, through
Bolt's real pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from approval_helpers import ALICE, BOB, CAROL, PROD, RULES, approvals_bot, latest_view, request_id, request_message
from conftest import Bot

from bot.domain.access_rules import AccessFileError, parse_rules
from bot.domain.change_requests import RequestState
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.blocks import APPROVE, REVERT

__all__ = ["approvals_bot"]  # a fixture, used by name

LEAD2 = "U0LEAD0002"
DEV = "bp03devday"
# The production policy is kept 2 days and runs every 12 hours: a floor of 2 days holds it as it is.
FLOOR = """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
min_retention = "2d"
max_interval = "1d"
allow_target_moves = false
"""
OVERRIDABLE = FLOOR + "override_approvals = 2\n"


def rules_with(guardrails: str, approvals: int = 1) -> str:
    return RULES.format(approvals=approvals) + guardrails


def guardrail_line(text: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if line.startswith("[[guardrails]]"))


def test_a_retention_below_the_floor_is_refused_naming_the_guardrail_its_line_and_the_nearest_value(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    text = rules_with(FLOOR)
    approvals_bot.use_rules(text)
    reply = approvals_bot.command(f'update acme/app-db {PROD} retention=1d reason="cost"', user=ALICE)
    said = reply.all_text()
    assert f"guardrail 1 (line {guardrail_line(text)})" in said
    assert "at least 2 days" in said and "`retention=2d`" in said
    assert planetscale.calls("PATCH") == [] and not [e for e in reply.events if e.kind == "message"]
    assert approvals_bot.deps.store.requests() == []
    [refused] = [e for e in approvals_bot.audit.all() if e.action == "refused"]
    assert "guardrail 1" in str(refused.detail)


def test_a_frequency_above_the_ceiling_and_a_move_out_of_production_are_refused(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(rules_with(FLOOR))
    slower = approvals_bot.command(f"update acme/app-db {PROD} frequency=2d retention=4d", user=ALICE)
    assert "at most 1 day apart" in slower.all_text() and "`frequency=1d`" in slower.all_text()
    # A required policy never moves (PlanetScale refuses it first): here the guardrail is what refuses.
    planetscale.policies[("acme", "app-db")][PROD]["required"] = False
    moved = approvals_bot.command(f"update acme/app-db {PROD} target=development", user=ALICE)
    assert "moves between targets are not allowed" in moved.all_text()
    assert "`target=production`" in moved.all_text()
    assert planetscale.calls("PATCH") == []


def test_the_dry_run_says_which_guardrails_the_change_meets(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(rules_with(FLOOR))
    reply = approvals_bot.command(f"update acme/app-db {PROD} retention=9d --dry-run", user=ALICE)
    said = reply.all_text()
    assert "meets guardrail 1" in said and "at least 2 days" in said and "stays production" in said
    development = approvals_bot.command(f"update acme/app-db {DEV} retention=9d --dry-run", user=ALICE)
    assert "none covers this policy" in development.all_text()
    assert planetscale.calls("PATCH") == []


def test_an_override_needs_a_reason_and_the_guardrails_approvals(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(rules_with(OVERRIDABLE))
    no_reason = approvals_bot.command(f"update acme/app-db {PROD} retention=1d", user=ALICE)
    assert 'reason="…"' in no_reason.all_text() and "guardrail 1" in no_reason.all_text()
    assert approvals_bot.deps.store.requests() == []
    approvals_bot.command(f'update acme/app-db {PROD} retention=1d reason="restore drill"', user=ALICE)
    message = request_message(approvals_bot)
    shown = latest_view(approvals_bot, message)
    assert "0 of 2" in shown and "overrides guardrail 1" in shown
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == [] and "1 of 2" in latest_view(approvals_bot, message)
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 1, "retention_unit": "day"}]


def test_a_guardrail_added_after_the_request_refuses_it_at_approval(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f'update acme/app-db {PROD} retention=1d reason="cost"', user=ALICE)
    message = request_message(approvals_bot)
    approvals_bot.use_rules(rules_with(FLOOR))
    reply = approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "guardrail 1" in reply.all_text() and "guardrail 1" in latest_view(approvals_bot, message)
    request = approvals_bot.deps.store.get_request(request_id(message))
    assert request is not None and request.state is RequestState.FAILED


def test_a_guardrail_added_while_a_request_is_approved_is_judged_when_it_applies(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """Approved, then the guardrail arrives before the sweep applies it: the apply-time check refuses it."""
    approvals_bot.command(f'update acme/app-db {PROD} retention=1d reason="cost"', user=ALICE)
    message = request_message(approvals_bot)
    store = approvals_bot.deps.store
    rid = request_id(message)
    store.transition(rid, [RequestState.PENDING], RequestState.APPROVED, decided_by=CAROL)
    store.add_approval(rid, CAROL)
    approvals_bot.use_rules(rules_with(FLOOR))
    changes = approvals_bot.deps.changes
    changes.clock = lambda: 10**10 - 1  # long after: the sweep takes it up
    store.clock = changes.clock
    [outcome] = changes.recover()
    assert planetscale.calls("PATCH") == []
    assert "guardrail 1" in outcome.message
    after = store.get_request(rid)
    assert after is not None and after.state is RequestState.FAILED


def test_an_overridable_guardrail_added_since_asks_for_its_approvals_when_it_applies(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.command(f'update acme/app-db {PROD} retention=1d reason="cost"', user=ALICE)
    message = request_message(approvals_bot)
    approvals_bot.use_rules(rules_with(OVERRIDABLE))
    approvals_bot.click(APPROVE, request_id(message), user=CAROL, message=message)
    assert planetscale.calls("PATCH") == []
    assert "1 of 2" in latest_view(approvals_bot, message)
    approvals_bot.click(APPROVE, request_id(message), user=LEAD2, message=message)
    assert len(planetscale.calls("PATCH")) == 1


def test_a_revert_that_would_break_a_guardrail_is_refused(approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)  # development: at once
    applied = request_message(approvals_bot)
    approvals_bot.use_rules(rules_with(FLOOR.replace('"production"', '"development"').replace('"2d"', '"5d"')))
    revert = next(e for b in applied.blocks for e in b.get("elements", []) if e.get("action_id") == REVERT)
    reply = approvals_bot.click(REVERT, revert["value"], user=BOB, message=applied)
    assert len(planetscale.calls("PATCH")) == 1  # only the change itself
    assert "guardrail 1" in reply.all_text() and "`retention=5d`" in reply.all_text()


def test_the_modal_refuses_beside_the_field_and_its_preview_names_the_guardrails_met(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(rules_with(FLOOR))
    approvals_bot.command(f"edit acme/app-db {PROD}", user=ALICE)
    form = approvals_bot.current_view()
    refused = approvals_bot.submit(form, {"retention_value": "1"}, user=ALICE)
    assert refused.ack["response_action"] == "update"  # the judge, asked after the ack, refuses it in the form
    kept = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert "*Keep backups for*: refused by guardrail 1" in kept, kept
    preview = approvals_bot.submit(form, {"retention_value": "5"}, user=ALICE)
    assert "meets guardrail 1" in json.dumps(preview.ack["view"], ensure_ascii=False)
    assert planetscale.calls("PATCH") == []


def test_the_modal_asks_for_a_reason_when_the_change_needs_an_override(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    approvals_bot.use_rules(rules_with(OVERRIDABLE))
    approvals_bot.command(f"edit acme/app-db {PROD}", user=ALICE)
    form = approvals_bot.current_view()
    approvals_bot.submit(form, {"retention_value": "1"}, user=ALICE)
    kept = json.dumps(approvals_bot.current_view(), ensure_ascii=False)
    assert "breaks guardrail 1" in kept and "with a reason: say why in *Reason*" in kept, kept
    # With a reason, it is previewed at once.
    preview = approvals_bot.submit(form, {"retention_value": "1", "reason": "drill"}, user=ALICE)
    view = json.dumps(preview.ack["view"], ensure_ascii=False)
    assert "needs 2 approval" in view and "breaks guardrail 1" in view


@pytest.mark.parametrize(("guardrail", "words"), [
    ('min_retention = "7"', "line 7 (guardrail 1): min_retention: `7` is not an amount"),
    ('max_interval = "1y"', "max_interval: `1y` is not an amount"),
    ('min_retention = "٣٠d"', "min_retention: `٣٠d` is not an amount"),  # Arabic-Indic digits, which int() takes
    ('max_interval = "１２h"', "max_interval: `１２h` is not an amount"),  # fullwidth digits
    ("override_approvals = 0", "override_approvals"),
    ("", "bounds nothing"),
    ('min_retention = "7d"\nwho = 1', "who"),
])
def test_a_bad_guardrail_is_refused_with_its_line(guardrail: str, words: str) -> None:
    text = RULES.format(approvals=1) + f'\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\n{guardrail}\n'
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines, start=1) if line.startswith("[[guardrails]]"))
    with pytest.raises(AccessFileError) as raised:
        parse_rules(text)
    message = str(raised.value).replace(f"line {start + 3}", "line 7")
    assert words in message, message


@pytest.mark.parametrize("value", ["true", "false", '"1"', "1.0", "[1]"])
@pytest.mark.parametrize("key", ["min_policies", "override_approvals"])
def test_a_guardrail_number_that_is_not_a_whole_number_is_refused_with_its_line_and_fix(key: str, value: str) -> None:
    """`min_policies = true` and `min_policies = "1"` were taken as 1 (and `false` as 0 where 0 is allowed): TOML
    booleans and strings read as numbers by pydantic's lax mode. Each is refused, naming the line and the fix."""
    text = RULES.format(approvals=1) + (f'\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\n'
                                        f'min_retention = "1d"\n{key} = {value}\n')
    with pytest.raises(AccessFileError) as raised:
        parse_rules(text)
    line = len(text.splitlines())
    assert f"line {line} (guardrail 1): {key}: `{value}` is not a whole number: write one without quotes" \
        in str(raised.value), raised.value


@pytest.mark.parametrize("value", ['"false"', "0", "1"])
def test_allow_target_moves_that_is_not_true_or_false_is_refused_with_its_line_and_fix(value: str) -> None:
    """`allow_target_moves = "false"` or `= 0` read as false, `"yes"` and `1` as true: refused, as TOML's own
    true and false are what the file means."""
    text = RULES.format(approvals=1) + (f'\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\n'
                                        f'allow_target_moves = {value}\n')
    with pytest.raises(AccessFileError) as raised:
        parse_rules(text)
    line = len(text.splitlines())
    assert f"line {line} (guardrail 1): allow_target_moves: `{value}` is not true or false: write " \
        "allow_target_moves = false, without quotes" in str(raised.value), raised.value


@pytest.mark.parametrize("value", ["true", "false", '"1"', "1.0"])
def test_a_rules_approvals_that_is_not_a_whole_number_is_refused_with_its_line_and_fix(value: str) -> None:
    text = RULES.format(approvals=value)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if row.startswith("approvals"))
    with pytest.raises(AccessFileError) as raised:
        parse_rules(text)
    assert f"line {line} (rule 1): approvals: `{value}` is not a whole number: write one without quotes" \
        in str(raised.value), raised.value


def test_a_guardrail_bounding_nothing_is_told_every_bound_it_may_set() -> None:
    text = RULES.format(approvals=1) + '\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\n'
    with pytest.raises(AccessFileError) as raised:
        parse_rules(text)
    for bound in ("min_retention", "max_interval", "allow_target_moves = false", "min_policies", "max_storage"):
        assert bound in str(raised.value), bound


def test_every_matching_guardrail_applies() -> None:
    from bot.domain.guardrails import judge

    text = RULES.format(approvals=1) + FLOOR + FLOOR.replace('"2d"', '"3d"').replace("allow_target_moves = false",
                                                                                    "")
    guardrails = parse_rules(text).guardrails
    assert [g.line for g in guardrails] == [n for n, line in enumerate(text.splitlines(), start=1)
                                            if line.startswith("[[guardrails]]")]
    policy = {"target": "production", "retention_value": 2, "retention_unit": "day", "frequency_value": 12,
              "frequency_unit": "hour"}
    verdict = judge(guardrails, "acme", "app-db", policy, policy)
    assert [c.guardrail.number for c in verdict.broken] == [2]
    monthly = {**policy, "retention_value": 4, "retention_unit": "week", "frequency_value": 1,
               "frequency_unit": "month"}
    # A month between backups is never shorter than a day: the ceiling holds for the longest month.
    assert {c.bound for c in judge(guardrails, "acme", "app-db", policy, monthly).broken} == {"max_interval"}


@pytest.mark.parametrize(("bounds", "after", "broken"), [
    ('min_retention = "1mo"', {"retention_value": 1, "retention_unit": "month"}, set()),
    ('min_retention = "1y"', {"retention_value": 1, "retention_unit": "year"}, set()),
    ('min_retention = "1y"', {"retention_value": 12, "retention_unit": "month"}, set()),  # the same span
    ('min_retention = "1y"', {"retention_value": 11, "retention_unit": "month"}, {"min_retention"}),
    ('min_retention = "30d"', {"retention_value": 1, "retention_unit": "month"}, {"min_retention"}),
    ('min_retention = "4w"', {"retention_value": 1, "retention_unit": "month"}, set()),
    ('max_interval = "1mo"', {"frequency_value": 1, "frequency_unit": "month"}, set()),
    ('max_interval = "1mo"', {"frequency_value": 5, "frequency_unit": "week"}, {"max_interval"}),
    ('max_interval = "31d"', {"frequency_value": 1, "frequency_unit": "month"}, set()),
])
def test_a_bound_in_months_or_years_accepts_the_value_it_names(bounds: str, after: dict[str, object],
                                                                 broken: set[str]) -> None:
    """In one unit the numbers decide, and a year is twelve months; across other units a month or a year counts at
    its least favourable length."""
    from bot.domain.guardrails import judge

    text = RULES.format(approvals=1) + f'\n[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\n{bounds}\n'
    policy = {"target": "production", "retention_value": 2, "retention_unit": "year", "frequency_value": 1,
              "frequency_unit": "day"}
    verdict = judge(parse_rules(text).guardrails, "acme", "app-db", policy, {**policy, **after})
    assert {c.bound for c in verdict.broken} == broken


def test_a_revert_over_an_overridable_guardrail_needs_a_persons_reason(
    approvals_bot: Bot, planetscale: PlanetScaleState
) -> None:
    """The bot writes a revert's reason itself; an override asks for a person's, typed with `update`."""
    approvals_bot.command(f"update acme/app-db {DEV} retention=9d", user=ALICE)  # development: at once
    applied = request_message(approvals_bot)
    overridable = FLOOR.replace('"production"', '"development"').replace('"2d"', '"5d"')
    approvals_bot.use_rules(rules_with(overridable + "override_approvals = 1\n"))
    revert = next(e for b in applied.blocks for e in b.get("elements", []) if e.get("action_id") == REVERT)
    reply = approvals_bot.click(REVERT, revert["value"], user=BOB, message=applied)
    assert "reason=" in reply.all_text() and "guardrail 1" in reply.all_text()
    assert len([e for e in approvals_bot.slack.events if e.kind == "message"]) == 1  # no request was posted
    assert len(planetscale.calls("PATCH")) == 1


@pytest.mark.parametrize(("floor", "retention", "allowed"), [
    ("12mo", "1y", True), ("1y", "12mo", True), ("24mo", "2y", True), ("13mo", "1y", False), ("2y", "23mo", False),
])
def test_a_year_is_twelve_months_against_a_retention_floor(floor: str, retention: str, allowed: bool) -> None:
    from bot.domain.guardrails import judge

    [guardrail] = parse_rules(rules_with(FLOOR.replace('"2d"', f'"{floor}"'))).guardrails
    value, unit = int(retention.rstrip("moy")), "year" if retention.endswith("y") else "month"
    policy = {"target": "production", "retention_value": value, "retention_unit": unit, "frequency_value": 12,
              "frequency_unit": "hour"}
    [check] = [c for c in judge([guardrail], "acme", "app-db", policy, policy).checks if c.bound == "min_retention"]
    assert check.met is allowed


def test_retention_of_a_year_passes_a_floor_of_twelve_months_through_the_command(
        approvals_bot: Bot, planetscale: PlanetScaleState) -> None:
    approvals_bot.use_rules(rules_with(FLOOR.replace('"2d"', '"12mo"')))
    reply = approvals_bot.command(f'update acme/app-db {PROD} retention=1y reason="audit"', user=ALICE)
    assert "at least 12 months" not in reply.all_text()
    assert not [e for e in approvals_bot.audit.all() if e.action == "refused"]
    [request] = approvals_bot.deps.store.requests()
    assert request.changes == {"retention_value": 1, "retention_unit": "year"}


@pytest.mark.parametrize("value", ["retention=٣٠d", "retention=３０d", "frequency=１２h", "at=０２:００"])
def test_a_typed_value_in_digits_other_than_0_to_9_is_refused_with_the_reason(
        bot: Bot, planetscale: PlanetScaleState, value: str) -> None:
    reply = bot.command(f'update acme/app-db "Production daily" {value}')
    assert "is not" in reply.ack_text or "0-9" in reply.ack_text, reply.ack_text
    assert bot.executor.wait_idle(30) and planetscale.calls("PATCH") == []
