"""How long a policy's frequency spans, and which policy made a backup, whatever PlanetScale answers for them."""

from __future__ import annotations

from bot.domain.backups import LONGEST_SPAN, Backup, frequency_span
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
