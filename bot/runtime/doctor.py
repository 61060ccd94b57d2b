"""`backup-bot doctor`: checks the configuration end to end and says what is wrong and how to fix it."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TextIO

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.schema import MIGRATIONS
from bot.adapters.store import Store
from bot.domain.access import AccessFile, AccessFileError, AccessRules
from bot.domain.ports import BadResponse, Forbidden, NotFound, PlanetScaleError, Unauthorized, Unavailable, Unreachable
from bot.runtime.settings import Settings, SettingsError

# Every Web API method the bot calls, and the bot scope it needs (None: no scope). The manifest must grant
# exactly these, plus `commands` for the slash command and `chat:write.public` to post in channels the bot
# was not invited to. A test checks the code's calls, this table and manifest.yml against each other.
METHOD_SCOPES: dict[str, str | None] = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "views_open": None,
    "views_update": None,
    "views_publish": None,
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


def check(settings_loader: Callable[[], Settings], out: TextIO, planetscale_timeout: float = 5.0) -> int:
    """`planetscale_timeout` bounds each PlanetScale call: doctor asks once and reports, it does not retry."""
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
    except OSError as exc:
        report.problem(f"{settings.access_file} cannot be read ({exc.strerror or type(exc).__name__})",
                       "point BACKUP_BOT_ACCESS_FILE at the rules file and let the bot's user read it")

    report.section("PlanetScale")
    if settings.planetscale_token_id and settings.planetscale_token:
        check_planetscale(settings, rules, report, planetscale_timeout)
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


@dataclass(frozen=True)
class PlanetScaleCheck:
    subject: str  # "acme/app-db", or "acme members"
    failure: str  # what the problem line says before PlanetScale's own words
    scope: str  # "backups" or "members": which access the fix names
    run: Callable[[], str]  # the ok line


def check_planetscale(settings: Settings, rules: AccessRules | None, report: Report, timeout: float) -> None:
    """Each database the rules name, and the member list where a rule needs PlanetScale roles: one try each,
    with a short timeout, and a fix that matches what failed. When PlanetScale cannot be reached or refuses
    the token, the remaining checks would fail the same way and are skipped."""
    client = PlanetScaleClient(settings.planetscale_token_id or "", settings.planetscale_token or "",
                               settings.planetscale_api_url, timeout=httpx.Timeout(timeout),
                               retry=RetryPolicy(attempts=1))

    def read_policies(organization: str, database: str) -> str:
        policies = client.list_policies(organization, database)
        return f"{organization}/{database}: the token can read its {len(policies)} backup policies"

    def list_backups(organization: str, database: str) -> str:
        """What the watch and `status` read: the database's branches, and a policy's backups on one of them."""
        branches = client.list_branches(organization, database)
        policies = client.list_policies(organization, database)
        for policy in policies:
            on = [b for b in branches if b.production == (policy.target == "production")]
            if on:
                backups = client.list_backups(organization, database, on[0].name, policy.id)
                return (f"{organization}/{database}: the token can list backups ({len(backups)} of "
                        f"{policy.id} on {on[0].name})")
        return f"{organization}/{database}: the token can list branches ({len(branches)}); no policy has backups"

    def list_databases(organization: str, patterns: list[str]) -> str:
        names = client.list_databases(organization)
        matched = [n for n in names if any(fnmatch.fnmatchcase(n.lower(), p) for p in patterns)]
        return (f"{organization}: the token can list databases ({len(matched)} of {len(names)} match "
                f"{', '.join(patterns)}; the watch reads those)")

    def read_members(organization: str) -> str:
        client.find_members(organization, "doctor-check@example.invalid")
        return f"{organization}: the token can read members (for planetscale_role)"

    checks: list[PlanetScaleCheck] = []
    named = rules.rules if rules else []
    databases = sorted({(o, d) for r in named for o in r.organizations for d in r.databases})
    if not databases:
        report.note("no databases to check (the access rules name none)")
    patterns: dict[str, list[str]] = {}
    for organization, database in databases:
        if any(ch in organization for ch in "*?["):
            report.note(f"{organization}/{database}: an organization pattern; its databases are checked when used")
        elif any(ch in database for ch in "*?["):
            patterns.setdefault(organization, []).append(database)
        else:
            checks.append(PlanetScaleCheck(f"{organization}/{database}", f"{organization}/{database}", "backups",
                                           partial(read_policies, organization, database)))
            checks.append(PlanetScaleCheck(f"{organization}/{database} backups",
                                           f"{organization}/{database}: backups cannot be listed", "backup list",
                                           partial(list_backups, organization, database)))
    for organization, named_by in sorted(patterns.items()):
        checks.append(PlanetScaleCheck(f"{organization} databases", f"{organization}: databases cannot be listed",
                                       "databases", partial(list_databases, organization, named_by)))
    for organization in sorted({o for r in named if r.planetscale_role for o in r.organizations}):
        checks.append(PlanetScaleCheck(f"{organization} members", f"{organization}: members cannot be read",
                                       "members", partial(read_members, organization)))
    try:
        for index, item in enumerate(checks):
            try:
                report.ok(item.run())
            except PlanetScaleError as exc:
                report.problem(f"{item.failure}: {exc.user_message}", planetscale_fix(exc, item.scope))
                if isinstance(exc, Unreachable | Unauthorized):
                    for skipped in checks[index + 1:]:
                        report.note(f"{skipped.subject}: not checked, it would fail the same way")
                    return
    finally:
        client.close()


def planetscale_fix(exc: PlanetScaleError, scope: str) -> str:
    """The fix for what actually failed: the network or URL, the token, or the token's access."""
    if isinstance(exc, Unreachable):
        return ("check PLANETSCALE_API_URL (https://api.planetscale.com/v1 unless you use a proxy) and that this "
                "machine can reach it: DNS, firewall, proxy")
    if isinstance(exc, Unauthorized):
        return ("check PLANETSCALE_SERVICE_TOKEN_ID and PLANETSCALE_SERVICE_TOKEN (organization settings → "
                "Service tokens), or create a new token and set both")
    if isinstance(exc, Forbidden | NotFound):
        if scope == "members":
            return "give the service token read_organization, or remove planetscale_role from the access rules"
        if scope == "databases":
            return ("give the service token read_database on the organization (the access rules name databases by "
                    "a pattern, which the watch matches against the organization's databases), or name the "
                    "databases in the rules")
        if scope == "backup list":
            return ("give the service token read_database and read_backups on this database (organization "
                    "settings → Service tokens): the watch and `status` list its branches and their backups")
        return ("check the organization and database names in the access rules, and give the service token "
                "read_backups and write_backups on this database (organization settings → Service tokens)")
    if isinstance(exc, BadResponse):
        return "check that PLANETSCALE_API_URL points at PlanetScale's API (https://api.planetscale.com/v1)"
    if isinstance(exc, Unavailable):  # 5xx or a rate limit: PlanetScale's side, for now
        return "PlanetScale is failing or busy: run doctor again in a few minutes, and check status.planetscale.com"
    return "check PLANETSCALE_API_URL and the service token"
