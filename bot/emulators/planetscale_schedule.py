"""Time as PlanetScale writes it, and when a backup policy runs next.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


RETENTION_HOURS = {"hour": 1, "day": 24, "week": 168, "month": 720, "year": 8760}


def next_run(policy: dict[str, Any], now: datetime | None = None) -> str | None:
    """The next run after now for the policy's schedule (UTC); None past the calendar's end (year 9999)."""
    try:
        return _next_run(policy, now or utc_now())
    except OverflowError:
        return None  # e.g. every 10**12 hours: the spec lets next_run_at be null


def _next_run(policy: dict[str, Any], now: datetime) -> str:
    hour, minute = (int(x) for x in policy["schedule_time"].split(":"))
    unit, value = policy["frequency_unit"], max(1, int(policy["frequency_value"]))
    if unit == "hour":
        start = now.replace(hour=hour, minute=minute, second=0) - timedelta(days=1)
        step = timedelta(hours=value)
    elif unit == "day":
        start = now.replace(hour=hour, minute=minute, second=0) - timedelta(days=value)
        step = timedelta(days=value)
    elif unit == "week":
        day = policy["schedule_day"] or 0
        start = now.replace(hour=hour, minute=minute, second=0)
        start -= timedelta(days=(start.weekday() + 1 - day) % 7 + 7 * value)
        step = timedelta(weeks=value)
    else:
        return iso_time(_next_monthly(now, hour, minute, policy["schedule_day"] or 0, policy["schedule_week"] or 0,
                                  value))
    while start <= now:
        start += step
    return iso_time(start)


def _next_monthly(now: datetime, hour: int, minute: int, day: int, week: int, every: int) -> datetime:
    year, month = now.year, now.month
    for _ in range(240):
        first = datetime(year, month, 1, hour, minute, tzinfo=UTC)
        offset = (day - (first.weekday() + 1) % 7) % 7
        candidate = first + timedelta(days=offset + 7 * week)
        if candidate > now and (month - 1) % every == 0:
            return candidate
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return now  # pragma: no cover
