"""Fuzzing with hypothesis: arbitrary command text and modal submissions never escape as exceptions, every
rejection is a message, and nothing invalid reaches PlanetScale."""

from __future__ import annotations

import json
import os
from typing import Any

from conftest import Bot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.commands import CommandError, UpdateCommand
from bot.domain.grammar import parse
from bot.domain.policy import BackupPolicy, check_change
from bot.emulators.planetscale_checks import validate_policy_body
from bot.emulators.planetscale_state import PlanetScaleState
from handlers.views.edit import EditMetadata, validate

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
KEYS = ["name", "target", "retention", "frequency", "at", "day", "week", "retention_value", "retention_unit",
        "frequency_value", "frequency_unit", "schedule_time", "schedule_day", "schedule_week", "reason", "colour"]
VALUES = st.one_of(
    st.sampled_from(["30d", "12h", "1w", "6mo", "1y", "5m", "0d", "-3d", "1.5d", "02:00", "25:00", "2pm", "sun",
                     "funday", "1st", "5th", "production", "prod", "0", "3", "7", "hour", "year", '"2 weeks"', '""',
                     "9" * 12, "<!channel>", "&amp;", "../../x"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
)
TOKENS = st.one_of(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), VALUES),
                   st.sampled_from(["--dry-run", "--force", '"', "“", "acme/app-db", "Production", "daily"]),
                   st.text(max_size=8))
COMMANDS = st.one_of(
    st.text(max_size=200),
    st.builds(lambda head, rest: " ".join([head, *rest]),
              st.sampled_from(["update acme/app-db bp03devday", 'update acme/app-db "Production daily"',
                               "show acme/app-db", "list", "history acme/app-db", "edit x/y", "pending"]),
              st.lists(TOKENS, max_size=6)),
)
POLICY = {"id": "bp03devday", "display_name": "Backup policy Development daily", "name": "Development daily",
          "target": "development", "retention_value": 3, "retention_unit": "day", "frequency_value": 1,
          "frequency_unit": "day", "schedule_time": "04:30", "schedule_day": None, "schedule_week": None,
          "required": False, "created_at": "x", "updated_at": "x", "last_ran_at": None, "next_run_at": None}


@settings(max_examples=EXAMPLES, deadline=None)
@given(COMMANDS)
def test_the_grammar_only_ever_answers_with_a_message_or_a_valid_update(text: str) -> None:
    try:
        parsed = parse(text)
    except CommandError as exc:
        assert str(exc).strip() and len(str(exc)) < 1000
        return
    if isinstance(parsed, UpdateCommand):
        body = parsed.update.to_api()
        assert body and validate_policy_body(body, partial=True) is None, body


@settings(max_examples=max(20, EXAMPLES // 25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(COMMANDS)
def test_through_bolt_no_command_fails_and_every_patch_is_valid(bot: Bot, planetscale: PlanetScaleState,
                                                                 text: str) -> None:
    reply = bot.command(text)
    assert reply.response.status == 200
    assert "Something went wrong inside the bot" not in reply.all_text()
    for call in planetscale.calls("PATCH"):
        assert validate_policy_body(call.body, partial=True) is None, call.body


def select(value: Any) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": None if value is None else {"value": value}}


FORM_STATE = st.fixed_dictionaries({}, optional={
    "name": st.builds(lambda v: {"name": {"type": "plain_text_input", "value": v}},
                      st.one_of(st.none(), st.text(max_size=300))),
    "target": st.builds(lambda v: {"target": select(v)}, st.one_of(st.none(), st.sampled_from(
        ["production", "development", "staging"]))),
    "retention_value": st.builds(lambda v: {"retention_value": {"type": "number_input", "value": v}},
                                 st.one_of(st.none(), st.sampled_from(["-3", "0", "1", "2", "30", "99999999999",
                                                                       "1.5", "x"]))),
    "retention_unit": st.builds(lambda v: {"retention_unit": select(v)}, st.sampled_from(
        ["hour", "day", "week", "month", "year", "minute"])),
    "frequency_value": st.builds(lambda v: {"frequency_value": {"type": "number_input", "value": v}},
                                 st.sampled_from(["1", "2", "12", "0", "-1"])),
    "frequency_unit": st.builds(lambda v: {"frequency_unit": select(v)}, st.sampled_from(
        ["hour", "day", "week", "month", "year"])),
    "schedule_time": st.builds(lambda v: {"schedule_time": {"type": "timepicker", "selected_time": v}},
                               st.one_of(st.none(), st.sampled_from(["02:00", "23:59", "24:00", "2:00"]))),
    "schedule_day": st.builds(lambda v: {"schedule_day": select(v)}, st.sampled_from(["0", "6", "7", "x"])),
    "schedule_week": st.builds(lambda v: {"schedule_week": select(v)}, st.sampled_from(["0", "3", "4"])),
    "reason": st.builds(lambda v: {"reason": {"type": "plain_text_input", "value": v}}, st.text(max_size=50)),
})


@settings(max_examples=EXAMPLES, deadline=None)
@given(FORM_STATE)
def test_modal_submissions_are_errors_by_block_or_a_valid_change(state: dict[str, Any]) -> None:
    metadata = EditMetadata(organization="acme", database="app-db", channel="C0DBAOPS01", policy=POLICY)
    update, _, errors = validate(metadata.policy, {"values": state})
    if update is None:
        assert errors and all(isinstance(m, str) and m for m in errors.values())
        assert set(errors) <= {*POLICY, "name", "reason"}  # each an input block of the form
        return
    body = update.to_api()
    assert validate_policy_body(body, partial=True) is None, body
    assert check_change(BackupPolicy.model_validate(POLICY), update) == []
    json.dumps(body)
