"""The watch's share of PlanetScale's budget, and the moments a policy's backups are due to be read again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.backups import Backup, judge_health
from bot.domain.policy import BackupPolicy
from bot.domain.watch_share import OVERDUE_GRACE, YIELD_SECONDS, BackupMark, WatchShare, backups_due, next_mark

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@settings(deadline=None)
@given(st.integers(1, 200), st.lists(st.floats(0, 30), max_size=50))
def test_the_share_never_lets_more_through_in_any_window(requests: int, pauses: list[float]) -> None:
    time_ = FakeTime()
    share = WatchShare(requests, 60.0, clock=time_.clock, sleep=time_.sleep)
    sent = []
    for pause in [*pauses, *[0.0] * (3 * requests)]:
        time_.now += pause
        share.take()
        sent.append(time_.now)
    first = 0
    for last, at in enumerate(sent):  # the requests within 60 s before each one, itself included
        while sent[first] <= at - 60.0 + 1e-6:  # (a float sum of waits lands a hair short of 60 s)
            first += 1
        assert last - first + 1 <= requests


def test_the_share_waits_while_people_need_the_budget() -> None:
    time_ = FakeTime()
    asked = iter([True, True, True, False])
    share = WatchShare(100, clock=time_.clock, sleep=time_.sleep, people_first=lambda: next(asked))
    share.take()
    assert time_.slept == [YIELD_SECONDS] * 3 and share.taken == 1


def policy(**values: object) -> BackupPolicy:
    base: dict[str, object] = {
        "id": "bp01", "name": "Daily", "display_name": "Daily", "target": "production", "retention_value": 2,
        "retention_unit": "day",
        "frequency_value": 12, "frequency_unit": "hour", "schedule_time": "09:10", "schedule_day": None,
        "schedule_week": None, "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
        "last_ran_at": "2026-12-03T09:10:00.000Z", "next_run_at": "2026-12-03T21:10:00.000Z", "required": False,
    }
    return BackupPolicy.model_validate({**base, **values})


def backup(state: str, at: datetime) -> Backup:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return Backup(id="bk1", state=state, size=1, created_at=stamp, started_at=stamp,
                  completed_at=stamp if state in ("success", "failed") else None, expires_at=None)


def test_backups_are_due_when_never_read_when_one_ran_or_when_the_schedule_moved() -> None:
    read = policy()
    mark = next_mark(judge_health(read, ["main"], [backup("success", NOW - timedelta(hours=2))], NOW), NOW)
    assert backups_due(read, None, NOW)
    assert not backups_due(read, mark, NOW + timedelta(hours=1))
    assert backups_due(policy(last_ran_at="2026-12-03T21:10:00.000Z"), mark, NOW + timedelta(hours=1))
    assert backups_due(policy(updated_at="2026-12-03T12:30:00.000Z"), mark, NOW + timedelta(hours=1))


def test_backups_are_due_once_the_next_run_is_overdue_or_they_would_turn_stale() -> None:
    read = policy()
    mark = next_mark(judge_health(read, ["main"], [backup("success", NOW - timedelta(hours=2))], NOW), NOW)
    overdue = datetime(2026, 12, 3, 21, 10, tzinfo=UTC) + OVERDUE_GRACE
    assert mark.due_at == overdue.timestamp()
    assert backups_due(read, mark, overdue)
    # No next run known: due when it would turn stale (twice 12 hours after the last success).
    quiet = policy(next_run_at=None)
    mark = next_mark(judge_health(quiet, ["main"], [backup("success", NOW - timedelta(hours=2))], NOW), NOW)
    assert mark.due_at == (NOW + timedelta(hours=22)).timestamp() + 1


def test_backups_in_trouble_are_read_again_at_each_cycle_until_they_recover() -> None:
    read = policy()
    health = judge_health(read, ["main"], [backup("failed", NOW - timedelta(hours=1))], NOW)
    assert health.problem
    assert next_mark(health, NOW).due_at == NOW.timestamp()


def test_a_backup_under_way_is_read_again_at_the_next_cycle() -> None:
    read = policy()
    health = judge_health(read, ["main"], [backup("running", NOW - timedelta(minutes=5)),
                                           backup("success", NOW - timedelta(hours=12))], NOW)
    assert health.running
    assert next_mark(health, NOW) == BackupMark(read.last_ran_at, read.updated_at, NOW.timestamp())


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(1, 2**31 - 1), st.sampled_from(["hour", "day", "week", "month"]))
def test_any_time_or_frequency_planetscale_gives_makes_a_mark(when: datetime, value: int, unit: str) -> None:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    read = policy(next_run_at=stamp, created_at=stamp, updated_at=stamp, frequency_value=value, frequency_unit=unit)
    mark = next_mark(judge_health(read, ["main"], [], NOW), NOW)
    assert NOW.timestamp() <= mark.due_at <= (NOW + timedelta(days=1)).timestamp()
