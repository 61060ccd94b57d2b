"""How long a policy's frequency spans, which policy made a backup, and whether a policy never backed up is
healthy, whatever PlanetScale answers for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.backups import CHANGE_DRIFT, LONGEST_SPAN, Backup, frequency_span, judge_health, parse_time
from bot.domain.policy import BackupPolicy

POLICY = {"id": "bp1", "name": "Daily", "display_name": "Daily", "target": "production", "retention_value": 2,
          "retention_unit": "day", "frequency_value": 12, "frequency_unit": "hour", "schedule_time": "00:00",
          "schedule_day": None, "schedule_week": None, "created_at": "", "updated_at": "", "last_ran_at": None,
          "next_run_at": None, "required": False}


def test_a_frequency_far_beyond_either_bound_is_held_to_the_longest_span() -> None:
    for value, span in ((2**31 - 1, LONGEST_SPAN), (-(2**31), -LONGEST_SPAN)):
        policy = BackupPolicy.model_validate({**POLICY, "frequency_value": value, "frequency_unit": "month"})
        assert frequency_span(policy) == span


def test_a_backups_policy_is_its_backup_policy_id_and_none_when_missing_or_malformed() -> None:
    stamp = "2026-12-01T00:00:00.000Z"
    backup = {"id": "bk1", "state": "success", "size": 1, "created_at": stamp, "started_at": stamp,
              "completed_at": stamp, "expires_at": None}
    assert Backup.model_validate({**backup, "backup_policy": {**POLICY, "id": "bp1"}}).policy_id == "bp1"
    for junk in (None, "bp1", 7, [], {}, {"id": 7}, {"id": ""}, {"name": "Daily"}):
        assert Backup.model_validate({**backup, "backup_policy": junk}).policy_id is None, junk
    assert Backup.model_validate(backup).policy_id is None


NOW = datetime(2026, 12, 7, tzinfo=UTC)
DATES = st.one_of(
    st.builds(lambda hours: (NOW - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              st.integers(min_value=-24 * 400, max_value=24 * 400)),
    st.sampled_from(["", "yesterday", "2026-02-30T00:00:00Z", "2026-13-45T99:99:99Z", "0001-01-01T00:00:00Z",
                     "9999-12-31T23:59:59Z", "2026-12-07", "2026-12-07T00:00:00"]),
    st.text(max_size=12),
)


def _date(text: str) -> datetime | None:
    try:
        return parse_time(text)
    except ValueError:
        return None


@given(created=DATES, changed=DATES, frequency=st.integers(min_value=-3, max_value=48),
       unit=st.sampled_from(["hour", "day", "week", "month"]), factor=st.sampled_from([1.0, 2.0, 100.0]))
def test_a_policy_never_backed_up_is_healthy_only_while_a_date_planetscale_gives_is_within_its_span(
        created: str, changed: str, frequency: int, unit: str, factor: float) -> None:
    policy = BackupPolicy.model_validate({**POLICY, "created_at": created, "updated_at": changed,
                                         "frequency_value": frequency, "frequency_unit": unit})
    health = judge_health(policy, ["main"], [], NOW, factor)
    if health.healthy:
        dates = [d for d in (_date(created), _date(changed)) if d is not None and d <= NOW + CHANGE_DRIFT]
        assert frequency > 0 and any(NOW - d <= health.stale_after for d in dates), health
    else:
        assert health.problem, health
