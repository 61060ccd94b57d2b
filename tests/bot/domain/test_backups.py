"""How long a policy's frequency spans, whatever PlanetScale answers for it."""

from __future__ import annotations

from bot.domain.backups import LONGEST_SPAN, frequency_span
from bot.domain.policy import BackupPolicy

POLICY = {"id": "bp1", "name": "Daily", "display_name": "Daily", "target": "production", "retention_value": 2,
          "retention_unit": "day", "frequency_value": 12, "frequency_unit": "hour", "schedule_time": "00:00",
          "schedule_day": None, "schedule_week": None, "created_at": "", "updated_at": "", "last_ran_at": None,
          "next_run_at": None, "required": False}


def test_a_frequency_far_beyond_either_bound_is_held_to_the_longest_span() -> None:
    for value, span in ((2**31 - 1, LONGEST_SPAN), (-(2**31), -LONGEST_SPAN)):
        policy = BackupPolicy.model_validate({**POLICY, "frequency_value": value, "frequency_unit": "month"})
        assert frequency_span(policy) == span
