"""A secret given with its quotes: `docker run --env-file` (and Compose's `environment:` list, and many CI secret
stores) keep the quotes of `SLACK_SIGNING_SECRET="…"` as part of the value. The signing secret was taken so, and
serve started, said ok at /healthz, and answered every request Slack signed with 401: the bot was silent for
everyone, and nothing said why. Each secret in quotes is refused at start, naming it and never its value."""

from __future__ import annotations

import pytest

from bot.runtime.settings import Settings, SettingsError

HEX = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("name", ["SLACK_SIGNING_SECRET", "PLANETSCALE_SERVICE_TOKEN", "SLACK_BOT_TOKEN"])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_secret_wrapped_in_quotes_is_refused_naming_the_quotes(name: str, quote: str) -> None:
    value = f"xoxb-{HEX}" if name == "SLACK_BOT_TOKEN" else HEX
    env = {name: f"{quote}{value}{quote}", "PLANETSCALE_SERVICE_TOKEN_ID": "abc123"}
    if name != "PLANETSCALE_SERVICE_TOKEN":
        env["PLANETSCALE_SERVICE_TOKEN"] = "pscale_tkn_x"
    with pytest.raises(SettingsError) as refused:
        Settings.load(require=(name,), env=env, dotenv_path=None)
    [line] = [p for p in refused.value.problems if p.startswith(name)]
    assert "quotes" in line and "--env-file" in line, line
    assert value not in str(refused.value)


def test_a_secret_read_from_a_file_in_quotes_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "secret").write_text(f'"{HEX}"\n')
    with pytest.raises(SettingsError) as refused:
        Settings.load(require=("SLACK_SIGNING_SECRET",), env={"SLACK_SIGNING_SECRET_FILE": str(tmp_path / "secret")},
                      dotenv_path=None)
    assert "SLACK_SIGNING_SECRET is malformed" in str(refused.value) and "quotes" in str(refused.value)


def test_a_secret_as_dotenv_quotes_it_is_taken_without_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text(f'SLACK_SIGNING_SECRET="{HEX}"\n')
    assert Settings.load(env={}, dotenv_path=str(tmp_path / ".env")).slack_signing_secret == HEX
