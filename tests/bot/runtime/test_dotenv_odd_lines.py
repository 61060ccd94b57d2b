"""`.env` lines the bot would otherwise pass over in silence. A setting set twice: python-dotenv keeps the last
line without a word; `init` writes every setting once, and an operator who adds `BACKUP_BOT_WATCH_EVERY=off` above
the written line ran the watch every 5 minutes, `doctor` saying nothing. Start and doctor name both lines. A
setting's name in lower case is not read: it is named as a name no setting has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.settings import Settings, SettingsError


def test_doctor_names_a_setting_that_dotenv_sets_twice(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BACKUP_BOT_WATCH_EVERY=off\nBACKUP_BOT_LOG_LEVEL=INFO\n"
                                   "# the watch\nBACKUP_BOT_WATCH_EVERY=\n")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, capture_output=True, text=True,
                          env=keep, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr[-2000:]
    assert (".env lines 1 and 4 set BACKUP_BOT_WATCH_EVERY to different values: only the last (line 4) is in "
            "force") in done.stdout, done.stdout


@pytest.mark.parametrize("content", [
    "BACKUP_BOT_WATCH_EVERY=off\nBACKUP_BOT_WATCH_EVERY=off\n",  # the same value twice changes nothing
    "BACKUP_BOT_WATCH_EVERY=off\nexport BACKUP_BOT_WATCH_EVERY='off'\n",
    "OTHER_TOOL=1\nOTHER_TOOL=2\n",  # not the bot's
])
def test_a_line_repeated_to_the_same_value_or_not_a_setting_is_no_problem(tmp_path: Path, content: str) -> None:
    (tmp_path / ".env").write_text(content)
    Settings.load(env={}, dotenv_path=str(tmp_path / ".env"))


def test_a_setting_set_twice_in_dotenv_and_in_the_environment_is_the_environments(tmp_path: Path) -> None:
    """The environment wins over `.env`: neither of its lines is in force, and the start is not refused for them."""
    (tmp_path / ".env").write_text("BACKUP_BOT_WATCH_EVERY=off\nBACKUP_BOT_WATCH_EVERY=1h\n")
    settings = Settings.load(env={"BACKUP_BOT_WATCH_EVERY": "10m"}, dotenv_path=str(tmp_path / ".env"))
    assert settings.watch_every == 600.0


def test_start_refuses_a_setting_set_twice_with_every_other_problem(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-1\nBACKUP_BOT_WATCH_EVERY=off\nSLACK_BOT_TOKEN=xoxb-2\n"
                                   "BACKUP_BOT_WATCH_EVRY=1h\n")
    with pytest.raises(SettingsError) as raised:
        Settings.load(env={}, dotenv_path=str(tmp_path / ".env"))
    problems = raised.value.problems
    assert any(p.endswith("lines 1 and 3 set SLACK_BOT_TOKEN to different values: only the last (line 3) is in "
                          "force; keep one of them.") for p in problems), problems
    assert any("BACKUP_BOT_WATCH_EVRY" in p for p in problems), problems
    assert not any("xoxb-" in p for p in problems), "a secret's value is never told"


@pytest.mark.parametrize(("content", "problem"), [
    ("backup_bot_watch_every=1h\n", "backup_bot_watch_every in "),
    ("slack_bot_token=xoxb-1\n", "slack_bot_token in "),
])
def test_a_setting_written_in_lower_case_is_named_not_ignored(tmp_path: Path, content: str, problem: str) -> None:
    """The names are upper case: `backup_bot_watch_every=1h` left the watch at every 5 minutes without a word."""
    (tmp_path / ".env").write_text(content)
    with pytest.raises(SettingsError) as raised:
        Settings.load(env={}, dotenv_path=str(tmp_path / ".env"))
    assert any(p.startswith(problem) and "is not a setting: did you mean " in p for p in raised.value.problems), \
        raised.value.problems


def test_a_value_quoted_over_two_lines_is_read_without_a_stray_parse_warning(tmp_path: Path) -> None:
    """A quoted value ending in a newline (pasted with it) is read as python-dotenv reads it; the check for repeated
    lines read each line alone, and python-dotenv warned, in its own words, of a statement it could not parse "at
    line 1", though every line was read and is in force."""
    (tmp_path / ".env").write_text('BACKUP_BOT_WATCH_EVERY=off\nBACKUP_BOT_LOG_LEVEL="warning\n"\n')
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, capture_output=True, text=True,
                          env={**keep, "BACKUP_BOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    assert Settings.load(env={}, dotenv_path=str(tmp_path / ".env")).log_level == "WARNING"


@pytest.mark.parametrize("line", ["SLACK_BOT_TOKEN", "export SLACK_BOT_TOKEN  # the bot's", "SLACK_BOT_TOKEN xoxb-1"])
def test_a_setting_written_without_an_equals_sign_names_its_line_and_how_to_write_it(tmp_path: Path,
                                                                                     line: str) -> None:
    """python-dotenv reads a name with no `=` as set to nothing: it was told only as "not set"."""
    (tmp_path / ".env").write_text(f"BACKUP_BOT_WATCH_EVERY=off\n{line}\n")
    with pytest.raises(SettingsError) as raised:
        Settings.load(require=["SLACK_BOT_TOKEN"], env={}, dotenv_path=str(tmp_path / ".env"))
    problems = raised.value.problems
    told = f"{tmp_path / '.env'} line 2: SLACK_BOT_TOKEN has no `=`, so it is not set: write SLACK_BOT_TOKEN=value"
    assert any(p.startswith(told) for p in problems), problems
    assert not any(p.startswith("SLACK_BOT_TOKEN is not set") for p in problems), problems
    assert not any("xoxb-" in p for p in problems), "a secret's value is never told"


def test_doctor_names_a_setting_written_without_an_equals_sign(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BACKUP_BOT_WATCH_EVERY=off\nSLACK_BOT_TOKEN\n")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, capture_output=True, text=True,
                          env=keep, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr[-2000:]
    assert ".env line 2: SLACK_BOT_TOKEN has no `=`, so it is not set: write SLACK_BOT_TOKEN=value" in done.stdout, \
        done.stdout


@pytest.mark.parametrize(("content", "number"), [
    ("BACKUP_BOT_WATCH_EVERY=off\nSLAK_SIGNING_SECRET='s3cr3t-value\n", 2),  # an unclosed quote, a name misspelled
    ("BACKUP_BOT_WATCH_EVERY=off\nSLACK SIGNING_SECRET=s3cr3t-value\n", 2),  # a space in the name
    ("SLACK_SIGNING_SECRET:s3cr3t-value\nBACKUP_BOT_WATCH_EVERY=off\n", 1),  # no `=`: read as a name of its own
    ("BACKUP_BOT_WATCH_EVERY=off\nSLACK-SIGNING-SECRET=s3cr3t-value\n", 2),  # no environment name
])
def test_a_dotenv_line_that_cannot_be_read_is_named_with_its_line(tmp_path: Path, content: str,
                                                                  number: int) -> None:
    """A line python-dotenv skips (with a warning of its own, in its own words, lost among the start's lines) or
    reads as a name no setting can have left whatever it meant to set at its default without a word. Start names
    its line, and never what it holds (it may be a secret)."""
    (tmp_path / ".env").write_text(content)
    with pytest.raises(SettingsError) as raised:
        Settings.load(env={}, dotenv_path=str(tmp_path / ".env"))
    problems = raised.value.problems
    assert any(p.startswith(f"{tmp_path / '.env'} line {number} cannot be read") for p in problems), problems
    assert not any("s3cr3t" in p for p in problems), "what the line holds is never told"


def test_doctor_names_a_dotenv_line_that_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BACKUP_BOT_WATCH_EVERY=off\nSLACK SIGNING_SECRET=s3cr3t-value\n")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
    done = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, capture_output=True, text=True,
                          env=keep, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr[-2000:]
    assert ".env line 2 cannot be read" in done.stdout, done.stdout
    assert "s3cr3t" not in done.stdout + done.stderr
