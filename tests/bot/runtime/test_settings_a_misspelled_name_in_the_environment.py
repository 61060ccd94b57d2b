"""A BACKUP_BOT_ name the environment sets that no setting has is told, as one in `.env` is. Set in the
environment (a container's, a Kubernetes manifest's), `BACKUP_BOT_AUDIT_CHANEL` left the bot without its audit
channel and `BACKUP_BOT_DATABASE_URL_FILE` (the `_FILE` form the secrets take) left it on a new SQLite file beside
it, its requests and audit trail lost at the container's next start, without a word: serve started as if the
setting were not there, and doctor said nothing of it."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bot.runtime.doctor import check
from bot.runtime.running import tell_unknown_names
from bot.runtime.settings import Settings

MISSPELLED = {"BACKUP_BOT_AUDIT_CHANEL": "C0AUDIT001", "BACKUP_BOT_DATABASE_URL_FILE": "/run/secrets/database-url",
              "BACKUP_BOT_WATCH_EVERY": "10m", "HOME": "/root"}


def load() -> Settings:
    return Settings.load(env=MISSPELLED, dotenv_path=None)


def test_a_misspelled_name_in_the_environment_is_named_with_the_setting_meant() -> None:
    settings = load()
    assert settings.audit_channel is None and settings.watch_every == 600.0
    assert settings.unknown_names == (
        "BACKUP_BOT_AUDIT_CHANEL in the environment is not a setting: did you mean BACKUP_BOT_AUDIT_CHANNEL?",
        "BACKUP_BOT_DATABASE_URL_FILE in the environment is not a setting: did you mean BACKUP_BOT_DATABASE_URL?")


def test_serve_logs_each_misspelled_name_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        tell_unknown_names(load())
    said = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert said == list(load().unknown_names)


def test_doctor_warns_of_each_misspelled_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    check(load, out, planetscale_timeout=0.5)
    report = out.getvalue()
    assert "BACKUP_BOT_AUDIT_CHANEL in the environment is not a setting" in report, report
    assert "did you mean BACKUP_BOT_DATABASE_URL?" in report, report


def test_the_names_of_settings_and_of_other_programs_are_not_told() -> None:
    settings = Settings.load(env={"BACKUP_BOT_WATCH_EVERY": "off", "SLACK_BOT_TOKEN_FILE": "", "PATH": "/bin",
                                  "BACKUP_BOT_AUDIT_CHANNEL": "C0AUDIT001"}, dotenv_path=None)
    assert settings.unknown_names == ()


def test_the_test_suites_own_names_are_not_told_as_misspelled_settings() -> None:
    """The README's tests set BACKUP_BOT_TEST_POSTGRES_URL and BACKUP_BOT_REQUIRE_POSTGRES in a developer's shell:
    serve and doctor run from that shell tell no 'did you mean BACKUP_BOT_DATABASE_URL?' of them."""
    settings = Settings.load(env={"BACKUP_BOT_TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1/test",
                                  "BACKUP_BOT_REQUIRE_POSTGRES": "1", "BACKUP_BOT_AUDIT_CHANEL": "C0AUDIT001"},
                             dotenv_path=None)
    assert settings.unknown_names == (
        "BACKUP_BOT_AUDIT_CHANEL in the environment is not a setting: did you mean BACKUP_BOT_AUDIT_CHANNEL?",)
