"""Policy models and the rules a change must keep."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.domain.policy import (
    BackupPolicy,
    PolicyUpdate,
    changed_fields,
    check_change,
    describe_changes,
    describe_schedule,
)

SPEC_FIXTURE: dict[str, Any] = {
    "id": "policy-1", "display_name": "Backup policy Production daily", "name": "Production daily",
    "target": "production", "retention_value": 2, "retention_unit": "day", "frequency_value": 12,
    "frequency_unit": "hour", "schedule_time": "09:10", "schedule_day": None, "schedule_week": None,
    "required": True, "created_at": "2021-01-14T10:19:23.000Z", "updated_at": "2021-01-14T10:19:23.000Z",
    "last_ran_at": None, "next_run_at": "2021-01-15T03:23:00.000Z",
}


def policy(**changes: Any) -> BackupPolicy:
    return BackupPolicy.model_validate({**SPEC_FIXTURE, **changes})


def messages(p: BackupPolicy, **fields: Any) -> list[str]:
    return [problem.message for problem in check_change(p, PolicyUpdate(**fields))]


def test_the_spec_fixture_parses_and_extra_fields_are_ignored() -> None:
    parsed = BackupPolicy.model_validate({**SPEC_FIXTURE, "future_field": 1})
    assert parsed.required is True and parsed.next_run_at == "2021-01-15T03:23:00.000Z"


@pytest.mark.parametrize("missing", ["schedule_day", "next_run_at", "required", "id"])
def test_every_field_the_spec_requires_must_be_there(missing: str) -> None:
    data = dict(SPEC_FIXTURE)
    del data[missing]
    with pytest.raises(ValidationError):
        BackupPolicy.model_validate(data)


def test_only_fields_that_were_set_are_serialised() -> None:
    assert PolicyUpdate(retention_value=30, retention_unit="day").to_api() == {"retention_value": 30,
                                                                                "retention_unit": "day"}
    assert PolicyUpdate().to_api() == {}


@pytest.mark.parametrize("fields", [
    {"retention_value": 0}, {"frequency_value": -1}, {"retention_value": 2**31},
    {"retention_unit": "minute"}, {"frequency_unit": "year"}, {"target": "staging"},
    {"schedule_time": "24:00"}, {"schedule_time": "2:00"}, {"schedule_day": 7}, {"schedule_week": 4},
    {"schedule_week": -1}, {"name": ""}, {"name": "   "}, {"name": "two\nlines"}, {"name": "x" * 256},
    {"retention_value": None}, {"unknown": 1},
])
def test_the_update_model_refuses_what_the_api_would(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PolicyUpdate(**fields)


def test_a_weekly_schedule_needs_a_day_and_drops_none() -> None:
    assert "needs a day" in messages(policy(), frequency_value=1, frequency_unit="week",
                                     retention_value=2, retention_unit="week")[0]
    assert messages(policy(), frequency_value=1, frequency_unit="week", schedule_day=0,
                    retention_value=2, retention_unit="week") == []


def test_a_monthly_schedule_needs_a_week_too() -> None:
    found = messages(policy(), frequency_value=1, frequency_unit="month", schedule_day=0,
                     retention_value=1, retention_unit="year")
    assert len(found) == 1 and "week of the month" in found[0]


def test_day_and_week_only_where_the_frequency_uses_them() -> None:
    assert "day only applies" in messages(policy(), schedule_day=1)[0]
    weekly = policy(frequency_value=1, frequency_unit="week", schedule_day=0, retention_value=4,
                    retention_unit="week")
    assert "week only applies" in messages(weekly, schedule_week=1)[0]
    assert messages(weekly, schedule_day=3) == []


@pytest.mark.parametrize(("fields", "ok"), [
    ({"retention_value": 11, "retention_unit": "hour"}, False),
    ({"retention_value": 12, "retention_unit": "hour"}, True),
    ({"frequency_value": 3, "frequency_unit": "day"}, False),
    ({"retention_value": 1, "retention_unit": "month", "frequency_value": 4, "frequency_unit": "week",
      "schedule_day": 0}, True),
])
def test_backups_must_be_kept_at_least_as_long_as_the_gap_between_them(fields: dict[str, Any], ok: bool) -> None:
    found = messages(policy(), **fields)
    assert (found == []) is ok, found


def test_a_change_to_the_same_values_changes_nothing() -> None:
    assert "nothing would change" in messages(policy(), retention_value=2, retention_unit="day")[0]
    assert changed_fields(policy(), PolicyUpdate(retention_value=2, retention_unit="week")) == ["retention_unit"]


@pytest.mark.parametrize(("fields", "words"), [
    ({}, "every 12 hours at 09:10 UTC, kept 2 days"),
    ({"frequency_value": 1, "frequency_unit": "day", "retention_value": 1, "retention_unit": "day"},
     "every day at 09:10 UTC, kept 1 day"),
    ({"frequency_value": 1, "frequency_unit": "week", "schedule_day": 0}, "every week on Sunday at 09:10 UTC"),
    ({"frequency_value": 2, "frequency_unit": "month", "schedule_day": 5, "schedule_week": 3,
      "retention_value": 1, "retention_unit": "year"},
     "every 2 months on the 4th week's Friday at 09:10 UTC, kept 1 year"),
])
def test_a_policy_in_words(fields: dict[str, Any], words: str) -> None:
    assert describe_schedule(policy(**fields)).startswith(words)


def test_changes_are_described_before_and_after_per_setting() -> None:
    after = policy(retention_value=30, schedule_time="02:00")
    assert [(c.label, c.before, c.after) for c in describe_changes(policy(), after)] == [
        ("retention", "2 days", "30 days"), ("time", "09:10 UTC", "02:00 UTC")]
