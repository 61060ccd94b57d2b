"""Whole-number settings (PORT, BACKUP_BOT_WORKERS) given digits Python reads oddly: a superscript, which
str.isdigit takes and int() refuses, and thousands of digits, past int()'s own limit. Each is refused as
malformed, saying what to write, never with Python's own words."""

from __future__ import annotations

import pytest

from bot.runtime.settings import Settings, SettingsError


@pytest.mark.parametrize("value", ["²", "5" * 5000], ids=["superscript-two", "five-thousand-digits"])
@pytest.mark.parametrize("name", ["PORT", "BACKUP_BOT_WORKERS"])
def test_a_whole_number_setting_python_cannot_read_is_refused_as_malformed(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(env={name: value}, dotenv_path=None)
    [problem] = caught.value.problems
    assert problem.startswith(f"{name} is malformed: `"), problem
    assert "int()" not in problem and "digits" not in problem.split("`")[-1], problem
    assert len(problem) < 200, problem
