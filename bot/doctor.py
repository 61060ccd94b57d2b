"""`backup-bot doctor`: checks the configuration end to end and says what is wrong and how to fix it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import AccessFile, AccessFileError
from bot.planetscale import PlanetScaleClient, PlanetScaleError
from bot.schema import MIGRATIONS
from bot.settings import Settings, SettingsError
from bot.store import Store

# Every Web API method the bot calls, and the bot scope it needs (None: no scope). The manifest must grant
# exactly these, plus `commands` for the slash command and `chat:write.public` to post in channels the bot
# was not invited to. A test checks the code's calls, this table and manifest.yml against each other.
METHOD_SCOPES: dict[str, str | None] = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "views_open": None,
    "views_update": None,
    "users_info": "users:read",
    "usergroups_list": "usergroups:read",
}
EXTRA_SCOPES = {"commands": "the /backup-policy command", "chat:write.public": "posting in public channels "
                "the bot was not invited to", "users:read.email": "matching people to PlanetScale members"}
REQUIRED_SCOPES = sorted({s for s in METHOD_SCOPES.values() if s} | set(EXTRA_SCOPES))


@dataclass
class Report:
    out: TextIO
    problems: int = 0
    lines: list[str] = field(default_factory=list)

    def ok(self, what: str) -> None:
        self._say(f"  ok    {what}")

    def problem(self, what: str, fix: str) -> None:
        self.problems += 1
        self._say(f"  FAIL  {what}\n        fix: {fix}")

    def note(self, what: str) -> None:
        self._say(f"  note  {what}")

    def section(self, title: str) -> None:
        self._say(title)

    def _say(self, line: str) -> None:
        self.lines.append(line)
        print(line, file=self.out, flush=True)


def check(settings_loader: Callable[[], Settings], out: TextIO) -> int:
    report = Report(out)
    report.section("Settings")
    try:
        settings = settings_loader()
    except SettingsError as exc:
        report.problem(str(exc), "set it in the environment or in .env (see .env.example)")
        return report.problems
    missing = [n for n, v in (("SLACK_BOT_TOKEN", settings.slack_bot_token),
                              ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
                              ("PLANETSCALE_SERVICE_TOKEN_ID", settings.planetscale_token_id)) if not v]
    for name in missing:
        report.problem(f"{name} is not set", "set it in the environment or in .env (see .env.example)")
    if settings.slack_signing_secret:
        if re.fullmatch(r"[0-9a-f]{32}", settings.slack_signing_secret):
            report.ok("SLACK_SIGNING_SECRET is present and shaped like a signing secret")
        else:
            report.problem("SLACK_SIGNING_SECRET does not look like a Slack signing secret (32 hex characters)",
                           "copy it from Basic Information → App Credentials → Signing Secret (not the client "
                           "secret or the verification token)")

    report.section("Slack")
    if settings.slack_bot_token:
        check_slack(settings, report)
    else:
        report.note("skipped: no SLACK_BOT_TOKEN")

    report.section("Access rules")
    rules = None
    try:
        rules = AccessFile(settings.access_file).rules
        report.ok(f"{settings.access_file}: {len(rules.rules)} rule(s)")
    except FileNotFoundError:
        report.problem(f"{settings.access_file} does not exist",
                       "copy access.example.toml to it, or set BACKUP_BOT_ACCESS_FILE")
    except AccessFileError as exc:
        report.problem(str(exc), "correct that line; the bot will not start until it parses")

    report.section("PlanetScale")
    if settings.planetscale_token_id and settings.planetscale_token:
        client = PlanetScaleClient(settings.planetscale_token_id, settings.planetscale_token,
                                   settings.planetscale_api_url)
        databases = sorted({(o, d) for r in (rules.rules if rules else []) for o in r.organizations
                            for d in r.databases})
        if not databases:
            report.note("no databases to check (the access rules name none)")
        for organization, database in databases:
            if any(ch in organization + database for ch in "*?["):
                report.note(f"{organization}/{database}: a pattern; databases matching it are checked when used")
                continue
            try:
                policies = client.list_policies(organization, database)
                report.ok(f"{organization}/{database}: the token can read its {len(policies)} backup policies")
            except PlanetScaleError as exc:
                report.problem(f"{organization}/{database}: {exc.user_message}",
                               "give the service token read_backups and write_backups on this database")
        if rules and any(r.planetscale_role for r in rules.rules):
            for organization in sorted({o for r in rules.rules if r.planetscale_role for o in r.organizations}):
                try:
                    client.find_members(organization, "doctor-check@example.invalid")
                    report.ok(f"{organization}: the token can read members (for planetscale_role)")
                except PlanetScaleError as exc:
                    report.problem(f"{organization}: members cannot be read: {exc.user_message}",
                                   "give the service token read_organization, or remove planetscale_role")
        client.close()
    else:
        report.note("skipped: no PlanetScale service token")

    report.section("Database")
    try:
        store = Store(settings.database_url)
        ok, detail = store.healthy()
        if ok:
            report.ok(f"{settings.database_url.split('@')[-1]}: {detail}")
        elif "needs" in detail:
            report.problem(detail, "run `backup-bot migrate` (the Procfile's release step does)")
        else:
            report.problem(detail, "check BACKUP_BOT_DATABASE_URL, and that the database server is running")
        store.close()
    except Exception as exc:  # a URL SQLAlchemy cannot even parse
        report.problem(f"BACKUP_BOT_DATABASE_URL cannot be used: {type(exc).__name__}",
                       "use sqlite:///path/to/file.db or postgresql://user@host/db")

    report.section("Result")
    if report.problems:
        report.note(f"{report.problems} problem(s) found: fix them from the top; the first often causes others")
    else:
        report.ok(f"everything checked is in order (schema version {MIGRATIONS[-1][0]})")
    return report.problems


def check_slack(settings: Settings, report: Report) -> None:
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        fix = {"invalid_auth": "the token is wrong or was revoked: copy the Bot User OAuth Token (xoxb-…) again",
               "token_revoked": "reinstall the app to the workspace and copy the new bot token",
               "account_inactive": "reinstall the app to the workspace and copy the new bot token"}
        report.problem(f"Slack refused SLACK_BOT_TOKEN ({error})", fix.get(str(error), "check the token"))
        return
    except OSError as exc:
        report.problem(f"Slack cannot be reached at {settings.slack_api_url} ({type(exc).__name__})",
                       "check the network, or SLACK_API_URL")
        return
    report.ok(f"the bot token works: {answer.get('user')} in {answer.get('team')}")
    granted = {s.strip() for s in (answer.headers.get("x-oauth-scopes") or "").split(",") if s.strip()}
    missing = [s for s in REQUIRED_SCOPES if s not in granted]
    if missing:
        report.problem(f"the token lacks scope(s) {', '.join(missing)}",
                       "add them under OAuth & Permissions → Bot Token Scopes (or paste manifest.yml again), then "
                       "reinstall the app")
    else:
        report.ok(f"all {len(REQUIRED_SCOPES)} scopes the bot needs are granted")
