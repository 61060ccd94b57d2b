"""Settings: a missing or malformed one is one line naming it, never its value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime.settings import Settings, SettingsError

SECRET = "s3cr3t-value-never-shown"


def load(require: tuple[str, ...] = (), **env: str) -> Settings:
    return Settings.load(require=require, env=env, dotenv_path=None)


def test_defaults() -> None:
    settings = load()
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.planetscale_api_url == "https://api.planetscale.com/v1"
    assert settings.database_url == "sqlite:///backup-bot.db" and settings.port == 3000
    limiter = settings.planetscale_limiter()  # PlanetScale's budget: 600 requests a minute
    assert (limiter.requests, limiter.per) == (600, 60.0)
    assert load(BACKUP_BOT_PLANETSCALE_RATE="10/s").planetscale_limiter().per == 1.0


@pytest.mark.parametrize(("env", "require", "named"), [
    ({}, ("SLACK_SIGNING_SECRET",), "SLACK_SIGNING_SECRET is not set"),
    ({"SLACK_BOT_TOKEN": SECRET}, (), "SLACK_BOT_TOKEN is malformed"),
    ({"SLACK_APP_TOKEN": SECRET}, (), "SLACK_APP_TOKEN is malformed"),
    ({"PLANETSCALE_SERVICE_TOKEN": SECRET}, (), "PLANETSCALE_SERVICE_TOKEN_ID is not set"),
    ({"PLANETSCALE_SERVICE_TOKEN_ID": "abc"}, (), "PLANETSCALE_SERVICE_TOKEN is not set"),
    ({"SLACK_API_URL": "slack.com"}, (), "SLACK_API_URL is malformed"),
    ({"PLANETSCALE_API_URL": SECRET}, (), "PLANETSCALE_API_URL is malformed"),
    ({"PLANETSCALE_API_URL": "ftp://x"}, (), "PLANETSCALE_API_URL is malformed"),
    ({"BACKUP_BOT_DATABASE_URL": "mysql://x"}, (), "BACKUP_BOT_DATABASE_URL is malformed"),
    ({"BACKUP_BOT_AUDIT_CHANNEL": "#general"}, (), "BACKUP_BOT_AUDIT_CHANNEL is malformed"),
    ({"PORT": "http"}, (), "PORT is malformed"),
    ({"BACKUP_BOT_LOG_FORMAT": "xml"}, (), "BACKUP_BOT_LOG_FORMAT is malformed"),
    ({"BACKUP_BOT_LOG_LEVEL": "loud"}, (), "BACKUP_BOT_LOG_LEVEL is malformed"),
    ({"BACKUP_BOT_GROUP_CACHE_MAX_AGE": "forever"}, (), "BACKUP_BOT_GROUP_CACHE_MAX_AGE is malformed"),
    ({"BACKUP_BOT_WATCH_EVERY": "often"}, (), "BACKUP_BOT_WATCH_EVERY is malformed"),
    ({"BACKUP_BOT_WATCH_EVERY": "0s"}, (), "BACKUP_BOT_WATCH_EVERY is malformed"),
    ({"BACKUP_BOT_WATCH_EVERY": "25h"}, (), "BACKUP_BOT_WATCH_EVERY is malformed"),
    ({"BACKUP_BOT_PLANETSCALE_RATE": SECRET}, (), "BACKUP_BOT_PLANETSCALE_RATE is malformed"),
    ({"BACKUP_BOT_PLANETSCALE_RATE": "0/min"}, (), "BACKUP_BOT_PLANETSCALE_RATE is malformed"),
])
def test_a_bad_setting_is_named_without_its_value(env: dict[str, str], require: tuple[str, ...], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(require, **env)
    assert named in str(caught.value)
    assert SECRET not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("value", "seconds"), [(None, 3600), ("30m", 1800), ("2h", 7200), ("1d", 86400),
                                                ("0m", 0)])
def test_the_group_cache_max_age_is_a_duration_of_an_hour_by_default(value: str | None, seconds: int) -> None:
    assert load(**({"BACKUP_BOT_GROUP_CACHE_MAX_AGE": value} if value else {})).group_cache_max_age == seconds


@pytest.mark.parametrize(("value", "seconds"), [(None, 300.0), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0),
                                              ("OFF", None), (" 2m ", 120.0)])
def test_the_watch_runs_every_five_minutes_by_default(value: str | None, seconds: float | None) -> None:
    assert load(**({"BACKUP_BOT_WATCH_EVERY": value} if value else {})).watch_every == seconds


def test_the_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("SLACK_API_URL=http://localhost:1/api\nPORT=4000\nBACKUP_BOT_LOG_FORMAT=json\n")
    settings = Settings.load(env={"PORT": "5000"}, dotenv_path=str(dotenv))
    assert settings.slack_api_url == "http://localhost:1/api/" and settings.port == 5000
    assert settings.log_format == "json"


def test_serve_reports_every_missing_setting_at_once_one_line_each(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-" + SECRET}
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert [line.split(" is ")[0] for line in lines] == [
        "backup-bot: SLACK_SIGNING_SECRET", "backup-bot: PLANETSCALE_SERVICE_TOKEN_ID",
        "backup-bot: PLANETSCALE_SERVICE_TOKEN"], lines
    assert all(" is not set: " in line for line in lines)
    assert SECRET not in done.stderr + done.stdout


def test_serve_reports_missing_and_malformed_settings_together_one_line_each(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-" + SECRET, "PORT": "http",
           "BACKUP_BOT_WATCH_EVERY": "often", "PLANETSCALE_SERVICE_TOKEN_ID": "abc",
           "PLANETSCALE_SERVICE_TOKEN": SECRET, "PLANETSCALE_API_URL": SECRET}
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert sorted(line.split(" ")[1] for line in lines) == [
        "BACKUP_BOT_WATCH_EVERY", "PLANETSCALE_API_URL", "PORT", "SLACK_SIGNING_SECRET"], lines
    assert all(line.startswith("backup-bot: ") for line in lines)
    assert SECRET not in done.stderr + done.stdout


def test_every_malformed_setting_is_reported_at_once_without_values() -> None:
    with pytest.raises(SettingsError) as caught:
        load(("SLACK_SIGNING_SECRET",), SLACK_BOT_TOKEN=SECRET, PORT="http", BACKUP_BOT_WATCH_EVERY="often",
             PLANETSCALE_API_URL=SECRET, BACKUP_BOT_DRAIN_TIMEOUT="soon")
    named = [line.split(" ")[0] for line in caught.value.problems]
    assert sorted(named) == sorted(["SLACK_BOT_TOKEN", "PORT", "BACKUP_BOT_WATCH_EVERY", "PLANETSCALE_API_URL",
                                    "BACKUP_BOT_DRAIN_TIMEOUT", "SLACK_SIGNING_SECRET"]), caught.value.problems
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("name", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN",
                                  "PLANETSCALE_SERVICE_TOKEN"])
def test_a_secret_may_come_from_a_file(tmp_path: Path, name: str) -> None:
    value = {"SLACK_BOT_TOKEN": "xoxb-from-a-file", "SLACK_APP_TOKEN": "xapp-from-a-file"}.get(name, "from-a-file")
    (tmp_path / "secret").write_text(value + "\n")
    env = {f"{name}_FILE": str(tmp_path / "secret")}
    if name == "PLANETSCALE_SERVICE_TOKEN":
        env["PLANETSCALE_SERVICE_TOKEN_ID"] = "abc"
    settings = load(**env)
    assert value in settings.secrets()


def test_the_service_token_id_is_a_secret_the_logs_redact() -> None:
    """The ID is half of the token's credentials (`Authorization: <id>:<token>`): kept out of logs as the token is."""
    settings = load(PLANETSCALE_SERVICE_TOKEN_ID="k3y1d0fthet0ken", PLANETSCALE_SERVICE_TOKEN="pscale_tkn_" + SECRET)
    assert "k3y1d0fthet0ken" in settings.secrets()


def test_a_secret_file_that_cannot_be_read_or_doubles_the_variable_is_named(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxb-" + SECRET)
    with pytest.raises(SettingsError) as caught:
        load(SLACK_SIGNING_SECRET_FILE=str(tmp_path / "missing"), SLACK_BOT_TOKEN_FILE=str(tmp_path / "token"),
             SLACK_BOT_TOKEN="xoxb-" + SECRET)
    assert caught.value.problems == [
        "SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set: keep one of them.",
        "SLACK_SIGNING_SECRET_FILE cannot be read (No such file or directory): point it at a readable file "
        "holding only the secret."]


def test_postgres_urls_are_taken_as_postgresql() -> None:
    url = load(BACKUP_BOT_DATABASE_URL="postgres://bot@db.internal:5432/bot").database_url
    assert url == "postgresql://bot@db.internal:5432/bot"


def test_the_drain_timeout_is_twenty_seconds_by_default() -> None:
    assert load().drain_timeout == 20.0
    assert load(BACKUP_BOT_DRAIN_TIMEOUT="5s").drain_timeout == 5.0
    assert load(BACKUP_BOT_DRAIN_TIMEOUT="0s").drain_timeout == 0.0


def test_serve_has_one_worker_process_by_default_and_none_to_eight_may_be_set() -> None:
    assert load().workers == 1
    assert load(BACKUP_BOT_WORKERS="0").workers == 0
    assert load(BACKUP_BOT_WORKERS="8").workers == 8
    for wrong in ("9", "-1", "two"):
        with pytest.raises(SettingsError) as caught:
            load(BACKUP_BOT_WORKERS=wrong)
        assert caught.value.problems[0].startswith("BACKUP_BOT_WORKERS is malformed"), caught.value.problems


def test_env_example_is_read_the_same_by_dotenv_and_docker(tmp_path: Path) -> None:
    """docker run --env-file keeps everything after `=`: no value in .env.example carries a comment."""
    example = (Path(__file__).resolve().parents[3] / ".env.example").read_text()
    for line in example.splitlines():
        if line and not line.startswith("#"):
            _, _, value = line.partition("=")
            assert "#" not in value and value == value.strip(), line


def test_the_placeholders_of_env_example_are_refused_by_name(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[3] / ".env.example").read_text()
    (tmp_path / ".env").write_text(example)
    with pytest.raises(SettingsError) as caught:
        Settings.load(env={}, dotenv_path=str(tmp_path / ".env"))
    named = sorted(line.split(" ")[0] for line in caught.value.problems)
    assert named == ["PLANETSCALE_SERVICE_TOKEN", "PLANETSCALE_SERVICE_TOKEN_ID", "SLACK_BOT_TOKEN",
                     "SLACK_SIGNING_SECRET"], caught.value.problems
    assert all("placeholder from .env.example" in line for line in caught.value.problems)


def test_a_comment_kept_in_a_secret_is_named_without_the_value() -> None:
    with pytest.raises(SettingsError) as caught:
        load(PLANETSCALE_SERVICE_TOKEN_ID="abc", PLANETSCALE_SERVICE_TOKEN=SECRET + "   # needs read_backups")
    assert caught.value.problems == ["PLANETSCALE_SERVICE_TOKEN is malformed: it holds a space (a comment after the "
                                     "value? put comments on lines of their own)"]


def test_socket_mode_stops_with_one_line_without_an_app_token(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-1", "PLANETSCALE_SERVICE_TOKEN_ID": "i",
           "PLANETSCALE_SERVICE_TOKEN": "t"}
    done = subprocess.run([sys.executable, "-m", "bot", "socket"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == ("backup-bot: SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token "
                                   "(xapp-…, Basic Information → App-Level Tokens).")


def test_the_dockerfile_installs_the_package_and_runs_migrate_then_serve() -> None:
    dockerfile = (Path(__file__).resolve().parents[3] / "Dockerfile").read_text()
    assert "pip install --no-deps ." in dockerfile and "backup-bot migrate && exec backup-bot serve" in dockerfile
    assert "USER bot" in dockerfile and "/healthz" in dockerfile


@pytest.mark.parametrize(("content", "problem"), [
    (b"SLACK_BOT_TOKEN=xoxb-1\n# r\xe9glages\n", ".env line 2: byte 0xE9 is not UTF-8"),
    (b"BACKUP_BOT_WATCH_EVRY=off\n", "is not a setting: did you mean BACKUP_BOT_WATCH_EVERY?"),
])
def test_a_mistyped_dotenv_is_one_line_naming_what_is_wrong(tmp_path: Path, content: bytes, problem: str) -> None:
    (tmp_path / ".env").write_bytes(content)
    with pytest.raises(SettingsError) as raised:
        Settings.load(env={}, dotenv_path=str(tmp_path / ".env"))
    assert any(problem in line for line in raised.value.args), raised.value.args


def test_a_dotenv_that_is_a_folder_is_named_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    with pytest.raises(SettingsError, match="cannot be read"):
        Settings.load(env={}, dotenv_path=str(tmp_path / ".env"))


@pytest.mark.parametrize("name", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PLANETSCALE_SERVICE_TOKEN"])
def test_a_secret_with_a_non_ascii_character_is_refused_at_start_by_name_without_its_value(name: str) -> None:
    """HTTP headers and HMAC keys are ASCII: a pasted `é` or non-breaking hyphen would crash the first request."""
    value = ("xoxb-" if name == "SLACK_BOT_TOKEN" else "") + "s3cr3t‑vélue"
    with pytest.raises(SettingsError) as caught:
        load(**{name: value})
    assert any(line.startswith(f"{name} is malformed: it holds a character that is not plain ASCII")
               for line in caught.value.problems), caught.value.problems
    assert "vélue" not in str(caught.value.problems)


def test_a_dotenv_line_that_cannot_be_parsed_is_told_with_every_other_problem(tmp_path: Path) -> None:
    """One line each, all of them at once: an unclosed quote in .env does not hide a malformed or missing one."""
    (tmp_path / ".env").write_text('BACKUP_BOT_WATCH_EVERY="5m\n')
    with pytest.raises(SettingsError) as raised:
        Settings.load(require=("SLACK_BOT_TOKEN",), env={"BACKUP_BOT_LOG_LEVEL": "LOUD"},
                      dotenv_path=str(tmp_path / ".env"))
    problems = raised.value.problems
    assert any(p.startswith(f"{tmp_path / '.env'} line 1: BACKUP_BOT_WATCH_EVERY cannot be read") for p in problems)
    assert any(p.startswith("BACKUP_BOT_LOG_LEVEL is malformed") for p in problems), problems
    assert any(p.startswith("SLACK_BOT_TOKEN is not set") for p in problems), problems


def test_every_setting_is_in_the_readme_and_in_the_env_that_init_writes() -> None:
    from bot.runtime.settings import FIELD_NAMES, SECRET_NAMES

    root = Path(__file__).resolve().parents[3]
    readme, example = (root / "README.md").read_text(), (root / ".env.example").read_text()
    for name in FIELD_NAMES:
        assert f"`{name}`" in readme or f"`${name}`" in readme, name
        assert f"{name}=" in example, name
    for name in SECRET_NAMES:
        assert f"`{name}_FILE`" in readme, name
