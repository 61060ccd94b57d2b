"""`backup-bot doctor` pinpoints each misconfiguration against the emulators, and the manifest matches the code."""

from __future__ import annotations

import io
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.store import Store
from bot.emulators.planetscale_state import ALL_ACCESSES, Fault, PlanetScaleState
from bot.emulators.slack import SlackState
from bot.runtime.doctor import METHOD_SCOPES, REQUIRED_SCOPES, check
from bot.runtime.settings import FIELD_NAMES, Settings

ROOT = Path(__file__).resolve().parents[3]
RULES = """
[[rules]]
organizations = ["acme"]
databases = ["app-db", "billing-*"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
planetscale_role = "admin"
"""


@pytest.fixture
def healthy(settings: Settings, tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState) -> Settings:
    (tmp_path / "access.toml").write_text(RULES)
    store = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    store.migrate()
    store.close()
    return replace(settings, slack_signing_secret="0123456789abcdef0123456789abcdef",
                   access_file=str(tmp_path / "access.toml"), database_url=f"sqlite:///{tmp_path / 'bot.db'}",
                   audit_channel="C0DBAOPS01")


def run(settings: Settings, planetscale_timeout: float = 5.0) -> tuple[int, str]:
    out = io.StringIO()
    problems = check(lambda: settings, out, planetscale_timeout)
    return problems, out.getvalue()


def refused_port() -> int:
    """A port nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def fixes(out: str) -> list[str]:
    return [line.strip().removeprefix("fix: ") for line in out.splitlines() if line.strip().startswith("fix:")]


def test_a_good_configuration_passes(healthy: Settings) -> None:
    problems, out = run(healthy)
    assert problems == 0, out
    assert "acme/app-db: the token can read its 3 backup policies" in out
    assert f"all {len(REQUIRED_SCOPES)} scopes" in out


def test_a_group_named_by_its_handle_is_noted_once_with_its_id(healthy: Settings, tmp_path: Path) -> None:
    """A handle is free again once its group is renamed or disabled: the note gives the ID that keeps its place."""
    (tmp_path / "access.toml").write_text(RULES + RULES.replace('"@dba-leads"', '"S0DBALEAD1"'))
    problems, out = run(healthy)
    assert problems == 0, out
    assert out.count("the user group @dba-team is named by its handle; its ID S0DBATEAM1") == 1, out
    assert out.count("the user group @dba-leads is named by its handle; its ID S0DBALEAD1") == 1, out
    assert "S0DBALEAD1 is named by its handle" not in out, out


@pytest.mark.parametrize(("breakage", "expected"), [
    ("wrong_slack_token", "Slack refused SLACK_BOT_TOKEN (invalid_auth)"),
    ("missing_scope", "the token lacks the scope usergroups:read"),
    ("missing_history_scopes", "the token lacks scopes channels:history, groups:history"),
    ("planetscale_no_access", "acme/app-db: PlanetScale found nothing at acme/app-db (404)"),
    ("planetscale_wrong_token", "refused the service token (401)"),
    ("bad_access_file", "line 5 (rule 1): editors: `bob`"),
    ("latin1_access_file", "line 1: byte 0xE9 is not UTF-8"),
    ("deep_access_file", "line 2: arrays or tables nested too deeply"),
    ("unreachable_database", "database unreachable"),
    ("not_a_signing_secret", "does not look like a Slack signing secret"),
])
def test_each_misconfiguration_is_pinpointed_with_a_fix(
    healthy: Settings, slack: SlackState, planetscale: PlanetScaleState, tmp_path: Path, breakage: str,
    expected: str
) -> None:
    settings = healthy
    if breakage == "wrong_slack_token":
        settings = replace(settings, slack_bot_token="xoxb-wrong")
    elif breakage == "missing_scope":
        slack.scopes.remove("usergroups:read")
    elif breakage == "missing_history_scopes":  # an app installed before the watch looked before posting again
        slack.scopes.remove("channels:history")
        slack.scopes.remove("groups:history")
    elif breakage == "planetscale_no_access":
        planetscale.grant("limited", "limited-token", "acme", "billing-db", ("read_backups",))
        settings = replace(settings, planetscale_token_id="limited", planetscale_token="limited-token")
    elif breakage == "planetscale_wrong_token":
        settings = replace(settings, planetscale_token="nope")
    elif breakage == "bad_access_file":
        (tmp_path / "access.toml").write_text(RULES.replace('"@dba-team"', '"bob"'))
    elif breakage == "latin1_access_file":
        (tmp_path / "access.toml").write_bytes("# r\u00e9gles\n".encode("latin-1") + RULES.encode())
    elif breakage == "deep_access_file":
        (tmp_path / "access.toml").write_text("# ok\nx = " + "[" * 3000 + "]" * 3000 + "\n" + RULES)
    elif breakage == "unreachable_database":
        settings = replace(settings, database_url="postgresql://nobody@127.0.0.1:1/none")
    elif breakage == "not_a_signing_secret":
        settings = replace(settings, slack_signing_secret="xoxb-looks-like-a-token")
    problems, out = run(settings)
    assert problems >= 1 and expected in out, out
    assert "fix:" in out
    for secret in (settings.slack_bot_token, settings.planetscale_token, settings.slack_signing_secret):
        assert secret and secret not in out


def test_an_unreachable_planetscale_is_reported_at_once_with_the_network_fix(healthy: Settings) -> None:
    settings = replace(healthy, planetscale_api_url=f"http://127.0.0.1:{refused_port()}/v1")
    started = time.monotonic()
    problems, out = run(settings)
    elapsed = time.monotonic() - started
    # A refused connection is told at once; the bound's margin is a loaded machine's.
    assert elapsed < 10.0, f"doctor took {elapsed:.1f} s"
    assert problems == 1 and "acme/app-db: Could not reach PlanetScale" in out, out
    assert "tried" not in out  # asked once
    [fix] = fixes(out)
    assert fix.startswith("check PLANETSCALE_API_URL") and "read_backups" not in fix
    assert "acme members: not checked, it would fail the same way" in out


def test_a_planetscale_that_never_answers_is_a_timeout_with_the_network_fix(
    healthy: Settings, silent_port: int
) -> None:
    settings = replace(healthy, planetscale_api_url=f"http://127.0.0.1:{silent_port}/v1")
    started = time.monotonic()
    problems, out = run(settings, planetscale_timeout=0.3)
    # Its own timeout, not the client's usual 15 s read; the bound's margin is a loaded machine's.
    assert time.monotonic() - started < 10.0
    assert problems == 1 and "did not answer in time" in out, out
    assert fixes(out)[0].startswith("check PLANETSCALE_API_URL")


@pytest.mark.parametrize(("breakage", "problem", "fix"), [
    ("wrong_token", "refused the service token (401)",
     "check PLANETSCALE_SERVICE_TOKEN_ID and PLANETSCALE_SERVICE_TOKEN"),
    ("no_access", "acme/app-db: PlanetScale found nothing at acme/app-db (404)",
     "give the service token read_backups and write_backups on this database"),
    ("no_members", "acme: members cannot be read", "give the service token read_organization"),
    ("server_error", "PlanetScale had an error (503)", "PlanetScale is failing or busy"),
    ("not_planetscale", "a list this bot cannot read", "points at PlanetScale's API"),
])
def test_each_planetscale_failure_gets_the_fix_for_its_cause(
    healthy: Settings, planetscale: PlanetScaleState, breakage: str, problem: str, fix: str
) -> None:
    settings = healthy
    if breakage == "wrong_token":
        settings = replace(settings, planetscale_token="nope")
    elif breakage == "no_access":
        planetscale.grant("limited", "limited-token", "acme", "billing-db", ALL_ACCESSES)
        settings = replace(settings, planetscale_token_id="limited", planetscale_token="limited-token")
    elif breakage == "no_members":
        planetscale.grant("limited", "limited-token", "acme", "*", ("read_backups", "write_backups"))
        settings = replace(settings, planetscale_token_id="limited", planetscale_token="limited-token")
    elif breakage == "server_error":
        planetscale.add_fault(Fault(status=503, times=None))
    else:
        planetscale.add_fault(Fault(status=200, times=None, body='{"html": "a captive portal"}'))
    problems, out = run(settings)
    assert problems >= 1 and problem in out, out
    given = next(f for line, f in zip(problem_lines(out), fixes(out), strict=True) if problem in line)
    assert fix in given, given
    if breakage != "no_access":
        assert "read_backups" not in given


def problem_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip().startswith("FAIL")]


def manifest() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "manifest.yml").read_text()))


def test_the_manifest_grants_exactly_the_scopes_the_code_needs() -> None:
    assert sorted(manifest()["oauth_config"]["scopes"]["bot"]) == REQUIRED_SCOPES


def test_every_web_api_method_the_code_calls_is_known_with_its_scope() -> None:
    called = set()
    for path in [*ROOT.glob("bot/*.py"), *ROOT.glob("handlers/**/*.py")]:
        called |= set(re.findall(r"client\.((?:auth|chat|views|users|usergroups|conversations)_\w+)\(",
                                 path.read_text()))
    assert called and called <= set(METHOD_SCOPES), called - set(METHOD_SCOPES)


def test_the_manifest_names_the_command_and_one_request_url() -> None:
    data = manifest()
    [command] = data["features"]["slash_commands"]
    assert command["command"] == "/backup-policy" and command["usage_hint"]
    assert command["url"] == data["settings"]["interactivity"]["request_url"]
    assert command["url"].endswith("/slack/events")
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["settings"]["socket_mode_enabled"] is False


def test_doctor_checks_what_the_watch_reads(healthy: Settings, planetscale: PlanetScaleState) -> None:
    """Backups listed for each database the rules name, and the organization's databases for a pattern."""
    problems, out = run(healthy)
    assert problems == 0, out
    assert "acme/app-db: the token can list backups (6 of bp01prod12h on main)" in out
    assert "acme: the token can list databases (1 of 2 match billing-*; the watch reads those)" in out
    # PlanetScale's spec: the database list takes any backup access, the branch list a branch access.
    planetscale.grant("limited", "limited-token", "acme", "*", ("read_backups", "write_backups", "read_organization"))
    problems, out = run(replace(healthy, planetscale_token_id="limited", planetscale_token="limited-token"))
    assert "acme/app-db: the token can read its 3 backup policies" in out
    assert "acme: the token can list databases" in out
    assert problems == 1, out
    [(line, backups)] = zip(problem_lines(out), fixes(out), strict=True)
    assert "acme/app-db: backups cannot be listed" in line and "read_branch and read_backups" in backups
    planetscale.grant("members", "members-token", "acme", "*", ("read_organization",))
    problems, out = run(replace(healthy, planetscale_token_id="members", planetscale_token="members-token"))
    [databases] = [f for line, f in findings(out).items() if "acme: databases cannot be listed" in line]
    assert "read_database on the organization" in databases


def findings(out: str) -> dict[str, str]:
    return dict(zip(problem_lines(out), fixes(out), strict=True))


def test_doctor_finds_groups_users_and_channels_that_do_not_exist(healthy: Settings, tmp_path: Path) -> None:
    (tmp_path / "access.toml").write_text(
        '[[rules]]\norganizations = ["acme"]\ndatabases = ["app-db"]\neditors = ["@dba-team", "U0NOBODY01"]\n'
        'approvers = ["@no-such-group", "@dba-leads"]\nchannels = ["C0NOWHERE1", "C0DBAOPS01"]\n')
    problems, out = run(replace(healthy, audit_channel="C0NOTREAL"))
    found = findings(out)
    assert problems == 4, out
    [group] = [f for line, f in found.items() if "the user group @no-such-group does not exist" in line]
    assert "create the group" in group
    assert any("user U0NOBODY01 does not exist" in line for line in found)
    assert any("rule 1 (line 1): channel C0NOWHERE1 does not exist" in line for line in found)
    assert any("BACKUP_BOT_AUDIT_CHANNEL: channel C0NOTREAL does not exist" in line for line in found)
    assert "channel C0DBAOPS01 exists" in out


@pytest.mark.parametrize(("approvals", "expected"), [
    ('approvers = ["@dba-leads"]\napprovals = 2', "approvals = 2 but only 1 person can approve"),
    ('approvers = ["@dba-team"]\napprovals = 2',
     "approvals = 2 cannot be met for a request by U0ALICE001, U0BOB00001: nobody approves their own request"),
    ('approvals = { "@dba-leads" = 2 }', "@dba-leads must give 2 approvals but has 1 member"),
])
def test_doctor_finds_approvals_that_cannot_be_met(healthy: Settings, tmp_path: Path, approvals: str,
                                                   expected: str) -> None:
    (tmp_path / "access.toml").write_text(
        f'[[rules]]\norganizations = ["acme"]\ndatabases = ["app-db"]\neditors = ["@dba-team"]\n{approvals}\n')
    problems, out = run(healthy)
    assert problems == 1 and expected in out, out


def test_the_watch_without_an_audit_channel_is_a_finding(healthy: Settings) -> None:
    problems, out = run(replace(healthy, audit_channel=None))
    assert problems == 1, out
    [(line, fix)] = findings(out).items()
    assert "nobody told" in line and "BACKUP_BOT_AUDIT_CHANNEL" in fix
    assert run(replace(healthy, audit_channel=None, watch_every=None))[0] == 0


def test_a_fresh_database_is_a_note_and_doctor_creates_nothing(healthy: Settings, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    problems, out = run(replace(healthy, database_url=f"sqlite:///{fresh}"))
    assert problems == 0, out
    assert "does not exist yet; `backup-bot serve` (or `backup-bot migrate`) creates it" in out
    assert f"PlanetScale's budget, shared by serve's processes: {fresh}-budget (made on first use" in out
    assert not fresh.exists() and not Path(f"{fresh}-budget").exists()


def test_a_schema_behind_the_code_is_a_note(healthy: Settings, tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    problems, out = run(replace(healthy, database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    assert problems == 0 and "reachable, no schema yet" in out, out


def test_an_access_file_that_cannot_be_read_is_a_problem_with_a_fix_not_a_crash(
        healthy: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "rules-dir"
    folder.mkdir()
    problems, out = run(replace(healthy, access_file=str(folder)))
    assert problems >= 1 and "cannot be read" in out and "fix:" in out


@pytest.mark.parametrize("answer", [
    {"ok": True, "usergroups": [None]},
    {"ok": True, "usergroups": "S0DBATEAM1"},
])
def test_a_user_group_listing_doctor_cannot_read_is_a_problem_not_a_crash(
        healthy: Settings, tmp_path: Path, slack: SlackState, answer: dict[str, object]) -> None:
    from bot.emulators.slack import MethodFault

    (tmp_path / "access.toml").write_text(
        '[[rules]]\norganizations = ["acme"]\ndatabases = ["app-db"]\neditors = ["@dba-team"]\n')
    slack.add_fault(MethodFault("usergroups.list", body=answer, times=None))
    problems, out = run(healthy)
    assert problems == 1 and "the user groups cannot be listed (unreadable_answer)" in out, out


def test_a_user_group_listed_in_a_shape_the_bot_cannot_read_is_a_problem_naming_it(
        healthy: Settings, tmp_path: Path, slack: SlackState) -> None:
    from bot.emulators.slack import MethodFault

    (tmp_path / "access.toml").write_text(
        '[[rules]]\norganizations = ["acme"]\ndatabases = ["app-db"]\neditors = ["@dba-team"]\n')
    odd = {"id": "S0DBATEAM1", "handle": "dba-team", "users": {"U0BOB00001": 1}}
    slack.add_fault(MethodFault("usergroups.list", body={"ok": True, "usergroups": [odd]}, times=None))
    problems, out = run(healthy)
    assert problems == 1 and "the user group @dba-team in a shape the bot cannot read" in out, out


def test_doctor_shows_every_backup_bot_setting_in_force(healthy: Settings) -> None:
    """An operator reads the values in force (the environment over .env, or the default), not only problems."""
    settings = replace(healthy, watch_every=30.0, stale_factor=3.0, group_cache_max_age=1800, drain_timeout=25.0,
                       planetscale_rate="10/s", log_format="text", log_level="DEBUG", watch_share=0.5, workers=2,
                       database_url="postgresql://bot:hunter2@db.internal:5432/backups")
    _, out = run(settings)
    shown = {line.split()[1]: line for line in out.splitlines() if re.match(r"\s+note\s+BACKUP_BOT_", line)}
    named = {name for name in FIELD_NAMES if name.startswith("BACKUP_BOT_")}
    assert named <= set(shown), sorted(named - set(shown))
    for name, value in [("BACKUP_BOT_WATCH_EVERY", "30s"), ("BACKUP_BOT_STALE_FACTOR", "3"),
                        ("BACKUP_BOT_GROUP_CACHE_MAX_AGE", "30m"), ("BACKUP_BOT_DRAIN_TIMEOUT", "25s"),
                        ("BACKUP_BOT_PLANETSCALE_RATE", "10/s"), ("BACKUP_BOT_LOG_FORMAT", "text"),
                        ("BACKUP_BOT_LOG_LEVEL", "DEBUG"), ("BACKUP_BOT_WATCH_SHARE", "50%"),
                        ("BACKUP_BOT_WORKERS", "2"), ("BACKUP_BOT_AUDIT_CHANNEL", "C0DBAOPS01"),
                        ("BACKUP_BOT_DATABASE_URL", "db.internal:5432/backups")]:
        assert f"{name} = {value}" in shown[name], shown[name]
    assert "hunter2" not in out and "bot:" not in out
    off = run(replace(healthy, watch_every=None, audit_channel=None, log_format=None))[1]
    assert "BACKUP_BOT_WATCH_EVERY = off" in off
    assert "BACKUP_BOT_AUDIT_CHANNEL = none" in off
    assert "BACKUP_BOT_LOG_FORMAT = json under serve and socket, text elsewhere" in off


def test_a_min_retention_no_retention_meets_is_pinpointed(healthy: Settings, tmp_path: Path) -> None:
    """A floor past PlanetScale's longest retention (2,147,483,647 years, its int32) loaded in silence: every change
    it covers was refused, its 'nearest allowed' a retention PlanetScale itself refuses, and doctor said nothing."""
    (tmp_path / "access.toml").write_text(
        '[[rules]]\norganizations = ["acme"]\ndatabases = ["app-db"]\neditors = ["@dba-team"]\n'
        '[[guardrails]]\norganizations = ["acme"]\ndatabases = ["*"]\nmin_retention = "9999999999999999999999d"\n')
    problems, out = run(healthy)
    assert problems == 1, out
    assert "line 8 (guardrail 1): min_retention" in out and "longer than any retention PlanetScale keeps" in out, out
