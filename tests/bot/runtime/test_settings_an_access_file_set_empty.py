"""BACKUP_BOT_ACCESS_FILE set, but to nothing (`${ACCESS_FILE}` with that variable unset): it fell back to
access.toml in the current folder, a file other than the one meant, as BACKUP_BOT_DATABASE_URL set empty is
refused for. Now it is refused the same way, naming the variable and the fix."""

from __future__ import annotations

import pytest

from bot.runtime.settings import Settings, SettingsError


@pytest.mark.parametrize("value", ["", "   "])
def test_an_access_file_set_empty_is_refused_naming_the_fix(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(env={"BACKUP_BOT_ACCESS_FILE": value}, dotenv_path=None)
    said = str(caught.value)
    assert "BACKUP_BOT_ACCESS_FILE is empty" in said and "leave it out" in said, said


def test_an_access_file_left_out_is_access_toml() -> None:
    assert Settings.load(env={}, dotenv_path=None).access_file == "access.toml"
