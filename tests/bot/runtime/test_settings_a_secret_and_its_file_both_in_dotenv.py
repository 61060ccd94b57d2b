"""A secret and its `*_FILE` both set in the environment are refused ("keep one of them"); both set in `.env`, the
file's value was taken without a word, so a token pasted anew into `.env` (rotated) was never used. Both in one
place are now refused alike; a `*_FILE` in the environment still wins over `.env`'s value, as every setting does."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime.settings import Settings, SettingsError


def test_a_secret_and_its_file_both_in_dotenv_are_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxb-from-the-file\n")
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"SLACK_BOT_TOKEN=xoxb-pasted-anew\nSLACK_BOT_TOKEN_FILE={tmp_path / 'token'}\n")
    with pytest.raises(SettingsError) as refused:
        Settings.load(env={}, dotenv_path=str(dotenv))
    assert refused.value.problems == ["SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set: keep one of them."]
    assert "xoxb-" not in str(refused.value)


def test_a_file_named_in_the_environment_wins_over_dotenvs_value(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxb-from-the-file\n")
    dotenv = tmp_path / ".env"
    dotenv.write_text("SLACK_BOT_TOKEN=xoxb-in-dotenv\n")
    settings = Settings.load(env={"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")}, dotenv_path=str(dotenv))
    assert settings.slack_bot_token == "xoxb-from-the-file"


def test_a_secret_file_saved_with_a_byte_order_mark_is_read_without_it(tmp_path: Path) -> None:
    # Windows editors save UTF-8 with a byte order mark: the token was refused as holding a character not ASCII.
    (tmp_path / "token").write_bytes(b"\xef\xbb\xbfxoxb-from-notepad\r\n")
    settings = Settings.load(env={"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")}, dotenv_path=None)
    assert settings.slack_bot_token == "xoxb-from-notepad"


def test_a_file_added_beside_the_examples_placeholder_is_read(tmp_path: Path) -> None:
    # .env.example's own advice: a secret may be given as a file instead. Added to a .env copied from it, beside the
    # placeholder left in place, it was refused as both set, where it used to be read.
    (tmp_path / "token").write_text("xoxb-from-the-file\n")
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"SLACK_BOT_TOKEN=xoxb-your-bot-token\nSLACK_BOT_TOKEN_FILE={tmp_path / 'token'}\n")
    settings = Settings.load(env={}, dotenv_path=str(dotenv))
    assert settings.slack_bot_token == "xoxb-from-the-file"
