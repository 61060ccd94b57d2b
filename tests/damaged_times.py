"""Times damaged in the database, as a test writes them into a time's column: text (SQLite keeps any text in a
number's column), a time no clock reaches, Infinity and NaN; and the skip of what the test's database cannot hold."""

from __future__ import annotations

import pytest
from conftest import Bot

NAN_REFUSED = "SQLite stores NaN as NULL, which the NOT NULL column refuses"


def damaged_times(name: str = "until") -> pytest.MarkDecorator:
    return pytest.mark.parametrize(name, ["soon", 1e308, float("inf"), float("nan")],
                                   ids=["text", "1e308", "inf", "nan"])


def skip_unless_held(bot: Bot, value: object, nan_on_sqlite: str | None = NAN_REFUSED) -> None:
    """Skips `value` where the bot's database cannot hold it: text on PostgreSQL, which keeps a number's column to
    numbers, and NaN on SQLite (stored as NULL) unless `nan_on_sqlite` is None (a NULL the test means too)."""
    sqlite = bot.deps.store.url.startswith("sqlite")
    if isinstance(value, str) and not sqlite:
        pytest.skip("PostgreSQL keeps a number's column to numbers")
    if value != value and sqlite and nan_on_sqlite is not None:
        pytest.skip(nan_on_sqlite)
