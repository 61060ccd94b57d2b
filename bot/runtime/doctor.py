"""`backup-bot doctor`: checks the configuration end to end and says what is wrong and how to fix it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TextIO

from pydantic import ValidationError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters import migrations
from bot.adapters.migrations import ForeignRevision, SeveralRevisions
from bot.adapters.slack_http import SlackClient, SlackHttp
from bot.adapters.slack_shapes import UNREADABLE, Group, error_of
from bot.adapters.store import Store
from bot.domain.access_file import AccessFile
from bot.domain.access_rules import USER_ID, AccessFileError, AccessRules, Rule
from bot.runtime.database import SCHEMA_AHEAD_FIX, cannot_open, foreign_schema, schema_ahead, several_revisions
from bot.runtime.doctor_places import budget_place, database_place, sqlite_path
from bot.runtime.doctor_planetscale import check_planetscale
from bot.runtime.doctor_report import Report
from bot.runtime.settings import Settings, SettingsError
from handlers.blocks import plural

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
    # doctor only: that the channels the settings and rules name exist (private ones: groups:read)
    "conversations_info": "channels:read",
    # the watch: whether a notice whose post went unanswered is in the audit channel already
    "conversations_history": "channels:history",
    # a reply in a request's thread whose post went unanswered: is it in the thread already?
    "conversations_replies": "channels:history",
    # an outcome whose direct message went unanswered: the DM's ID, to look in its history
    "conversations_open": "im:write",
}
EXTRA_SCOPES = {"groups:read": "doctor checking private channels the rules name",
                "groups:history": "the watch looking in a private audit channel for a notice it tried to post",
                "commands": "the /backup-policy command", "chat:write.public": "posting in public channels "
                "the bot was not invited to", "users:read.email": "matching people to PlanetScale members",
                "im:history": "looking in a requester's direct message for an outcome whose post went unanswered"}
REQUIRED_SCOPES = sorted({s for s in METHOD_SCOPES.values() if s} | set(EXTRA_SCOPES))


def check(settings_loader: Callable[[], Settings], out: TextIO, planetscale_timeout: float = 5.0) -> int:
    """`planetscale_timeout` bounds each PlanetScale call: doctor asks once and reports, it does not retry."""
    report = Report(out)
    report.section("Settings")
    try:
        settings = settings_loader()
    except SettingsError as exc:
        for problem in exc.problems:
            report.problem(problem, "set it in the environment or in .env (`backup-bot init` writes one to fill in)")
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
    for line in settings.unknown_names:
        report.warning(line)
    for name, value in settings_in_force(settings):
        report.note(f"{name} = {value}")
    if settings.watch_every is not None and not settings.audit_channel:
        report.problem("the watch is on (BACKUP_BOT_WATCH_EVERY) but BACKUP_BOT_AUDIT_CHANNEL is not set: drift "
                       "and failing backups would only be logged, and nobody told",
                       "set BACKUP_BOT_AUDIT_CHANNEL to the ID of the channel that should hear about them, or "
                       "BACKUP_BOT_WATCH_EVERY=off")

    report.section("Slack")
    slack = check_slack(settings, report) if settings.slack_bot_token else None
    if not settings.slack_bot_token:
        report.note("skipped: no SLACK_BOT_TOKEN")

    report.section("Access rules")
    rules = None
    try:
        rules = AccessFile(settings.access_file).rules
        report.ok(f"{settings.access_file}: {plural(len(rules.rules), 'rule')}")
    except FileNotFoundError:
        report.problem(f"{settings.access_file} does not exist",
                       "copy access.example.toml to it, or set BACKUP_BOT_ACCESS_FILE")
    except AccessFileError as exc:
        report.problem(str(exc), "correct that line; the bot will not start until it parses" if " line " in str(exc)
                       else "mend the file as said; the bot will not start until it is mended")
    except OSError as exc:
        report.problem(f"{settings.access_file} cannot be read ({exc.strerror or type(exc).__name__})",
                       "point BACKUP_BOT_ACCESS_FILE at the rules file and let the bot's user read it")
    if slack is not None:
        check_names(slack, rules, settings.audit_channel, report)

    report.section("PlanetScale")
    if settings.planetscale_token_id and settings.planetscale_token:
        check_planetscale(settings, rules, report, planetscale_timeout)
    else:
        report.note("skipped: no PlanetScale service token")

    report.section("Database")
    check_database(settings.database_url, report)
    report.note(budget_place(settings.database_url))

    report.section("Result")
    if report.warnings:
        report.note(f"{plural(report.warnings, 'warning')} above: likely mistakes, unless meant (see each)")
    if report.problems:
        report.note(f"{plural(report.problems, 'problem')} found: fix them from the top; the first often causes others")
    else:
        report.ok(f"everything checked is in order (schema version {migrations.head()})")
    return report.problems


def settings_in_force(settings: Settings) -> list[tuple[str, str]]:
    """The bot's own settings as they are in force (the environment over .env, else the default); never a secret,
    and the database without its user or password."""
    log_format = settings.log_format or "json under serve and socket, text elsewhere"
    return [("BACKUP_BOT_DATABASE_URL", database_place(settings.database_url)),
            ("BACKUP_BOT_ACCESS_FILE", settings.access_file),
            ("BACKUP_BOT_AUDIT_CHANNEL", settings.audit_channel or "none"),
            ("BACKUP_BOT_WATCH_EVERY", "off" if settings.watch_every is None else _duration(settings.watch_every)),
            ("BACKUP_BOT_WATCH_SHARE", f"{settings.watch_share * 100:g}%"),
            ("BACKUP_BOT_STALE_FACTOR", f"{settings.stale_factor:g}"),
            ("BACKUP_BOT_GROUP_CACHE_MAX_AGE", _duration(settings.group_cache_max_age)),
            ("BACKUP_BOT_PLANETSCALE_RATE", settings.planetscale_rate),
            ("BACKUP_BOT_DRAIN_TIMEOUT", _duration(settings.drain_timeout)),
            ("BACKUP_BOT_WORKERS", str(settings.workers)),
            ("BACKUP_BOT_LOG_FORMAT", log_format),
            ("BACKUP_BOT_LOG_LEVEL", settings.log_level)]


def _duration(seconds: float) -> str:
    whole = int(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def check_database(url: str, report: Report) -> None:
    """Reads the database without creating or changing it: a database not made yet is a note, since serve and
    `backup-bot migrate` make and migrate it."""
    where = database_place(url)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path and path != ":memory:" and not os.path.exists(path):
            folder = os.path.dirname(path) or "."
            if not os.path.isdir(folder):
                why = "is not a folder" if os.path.exists(folder) else "does not exist"
                report.problem(f"{where}: its folder {folder} {why}, so serve cannot make the database",
                               "make the folder, or point BACKUP_BOT_DATABASE_URL at a file in an existing folder")
                return
            report.note(f"{where}: does not exist yet; `backup-bot serve` (or `backup-bot migrate`) creates it")
            return
        known = cannot_open(url, OSError())  # a folder, a device, a pipe: SQLite reads /dev/null as a new database
        if known is not None:
            report.problem(f"{where}: {known[0]}", known[1])
            return
    try:
        store = Store(url)
        try:
            version = store.version()
            refused = store.write_refusal() if version else None
        finally:
            store.close()
    except ForeignRevision as exc:
        report.problem(f"{where}: {foreign_schema(exc.revision)}", "point BACKUP_BOT_DATABASE_URL at a database only "
                       "the bot uses (an empty one: serve makes the schema)")
        return
    except SeveralRevisions as exc:
        report.problem(f"{where}: {several_revisions(exc.revisions)}", "mend the alembic_version table (one row), "
                       "then run `backup-bot migrate`")
        return
    except Exception as exc:  # unreachable, or a URL SQLAlchemy cannot even parse
        known = cannot_open(url, exc)
        if known is not None:  # a folder SQLite cannot write in, PostgreSQL refusing a connection
            report.problem(f"{where}: {known[0]}", known[1])
            return
        reason = type(getattr(exc, "orig", None) or exc).__name__
        report.problem(f"database unreachable at {where} ({reason})",
                       "check BACKUP_BOT_DATABASE_URL (sqlite:///path/to/file.db or postgresql://user@host/db), "
                       "and that the database server is running")
        return
    latest = migrations.head()
    if refused is not None:  # serve would ack and record nothing: its /healthz says so too
        report.problem(f"{where}: the database refuses writes ({refused}), so serve could record no change or acked "
                       "request", "point BACKUP_BOT_DATABASE_URL at the primary database (not a standby or a read-only "
                       "one), writable by its user, on a volume with room that is mounted read-write")
    elif version > latest:  # serve, socket and migrate stop on it
        report.problem(f"{where}: {schema_ahead(version, latest)}", SCHEMA_AHEAD_FIX)
    elif version == 0:
        report.note(f"{where}: reachable, no schema yet; `backup-bot serve` (or `backup-bot migrate`) creates it")
    elif version < latest:
        report.note(f"{where}: schema at version {version}; `backup-bot serve` (or `backup-bot migrate`) brings it "
                    f"to {latest}")
    else:
        report.ok(f"{where}: schema version {version}")


def slack_trouble(exc: SlackApiError) -> tuple[str, str] | None:
    """A failure on Slack's side (not the thing checked), in words with its fix; None for Slack's own refusal."""
    status = exc.response.status_code
    error = exc.response.get("error")
    if error == "ratelimited" or status == 429:
        return "ratelimited", "Slack is limiting this app's calls: run doctor again in a minute"
    if error == UNREADABLE:
        return (UNREADABLE, "Slack's answer is not one of its Web API's: check SLACK_API_URL (https://slack.com/api/ "
                            "unless you use a proxy) and any proxy between; report it if it persists")
    if status >= 500 or not error:
        return (f"Slack answered HTTP {status}",
                "Slack is failing: run doctor again in a few minutes, and check status.slack.com")
    return None


def check_names(client: WebClient, rules: AccessRules | None, audit_channel: str | None, report: Report) -> None:
    """The people, groups and channels the settings and rules name exist, and each rule's approvals can be met."""
    if audit_channel:
        check_channel(client, audit_channel, "BACKUP_BOT_AUDIT_CHANNEL", report)
    if rules is None:
        return
    try:
        groups = list(client.usergroups_list(include_users=True).get("usergroups") or [])
    except (SlackApiError, OSError) as exc:
        trouble = slack_trouble(exc) if isinstance(exc, SlackApiError) else None
        reason, fix = trouble or (error_of(exc), "grant usergroups:read and reinstall the app")
        report.problem(f"the user groups cannot be listed ({reason})", fix)
        return
    live = [g for g in groups if not g.get("date_delete")]
    by_name = {**{"@" + str(g.get("handle")): g for g in live}, **{str(g.get("id")): g for g in live}}
    readable = {id(g) for g in live if is_group(g)}
    users: dict[str, bool] = {}
    channels: set[str] = set()
    handles: set[str] = set()

    def members(principal: str, rule: Rule) -> set[str]:
        if USER_ID.fullmatch(principal):
            if principal not in users:
                users[principal] = user_is_active(client, principal, rule.where, report)
            return {principal} if users[principal] else set()
        group = by_name.get(principal)
        if group is None:
            report.problem(f"{rule.where}: the user group {principal} does not exist in this workspace",
                           "correct the handle, or create the group in Slack (People → User groups)")
            return set()
        if id(group) not in readable:  # as the bot reads it (slack_directory): a group that names nobody
            report.problem(f"{rule.where}: Slack lists the user group {principal} in a shape the bot cannot read, so "
                           "it names nobody to the bot", "check that group in Slack (People → User groups), and run "
                           "doctor again")
            return set()
        if principal.startswith("@") and principal not in handles:
            # A handle is free again once its group is renamed or disabled: whoever takes it next is obeyed.
            handles.add(principal)
            report.note(f"{rule.where}: the user group {principal} is named by its handle; its ID "
                        f"{group.get('id')} keeps its place if it is renamed and another group takes the handle")
        return {str(u) for u in group.get("users") or []}

    for rule in rules.rules:
        editors = set().union(*(members(p, rule) for p in rule.editors)) if rule.editors else set()
        approvers = set().union(*(members(p, rule) for p in rule.approvers)) if rule.approvers else set()
        for channel in rule.channels:
            if channel not in channels:
                channels.add(channel)
                check_channel(client, channel, rule.where, report)
        if rule.approvals and rule.approvals_from:
            for group, count in rule.approvals_from:
                found = len(members(group, rule)) if group in by_name else 0
                if group in by_name and found < count:
                    report.problem(f"{rule.where}: {group} must give {count} approval{'s' if count != 1 else ''} "
                                   f"but has {found} member{'s' if found != 1 else ''}",
                                   f"add people to {group}, or lower its count in `approvals`")
        elif rule.approvals:
            if len(approvers) < rule.approvals:
                report.problem(f"{rule.where}: approvals = {rule.approvals} but only {len(approvers)} "
                               f"{'person' if len(approvers) == 1 else 'people'} can approve",
                               "add approvers (or people to their groups), or lower `approvals`")
            else:
                stuck = sorted(e for e in editors if len(approvers - {e}) < rule.approvals)
                if stuck:
                    report.problem(f"{rule.where}: approvals = {rule.approvals} cannot be met for a request by "
                                   f"{', '.join(stuck[:5])}: nobody approves their own request",
                                   "add approvers, or lower `approvals`")


def user_is_active(client: WebClient, user: str, where: str, report: Report) -> bool:
    """Whether `user` can act in this workspace; a user who cannot, or cannot be checked, is a problem said."""
    try:
        answer = client.users_info(user=user)
    except (SlackApiError, OSError) as exc:  # any answer but "no such user": counted as there, and said
        error = error_of(exc)
        if error in ("user_not_found", "users_not_found"):
            report.problem(f"{where}: user {user} does not exist in this workspace",
                           "use the member ID from the person's profile (⋯ → Copy member ID)")
            return False
        trouble = slack_trouble(exc) if isinstance(exc, SlackApiError) else None
        reason, fix = trouble or (error, "run doctor again; if Slack keeps answering this, check the token's "
                                         "users:read scope")
        report.problem(f"{where}: user {user} cannot be checked ({reason})", fix)
        return True
    found = answer.get("user")
    if isinstance(found, dict) and found.get("deleted") is True:
        report.problem(f"{where}: user {user} is deactivated in this workspace",
                       "remove them from the rules, or name who took their place")
        return False
    return True


def check_channel(client: WebClient, channel: str, where: str, report: Report) -> None:
    try:
        answer = client.conversations_info(channel=channel)
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        trouble = slack_trouble(exc)
        if trouble is not None:
            report.problem(f"{where}: channel {channel} cannot be checked ({trouble[0]})", trouble[1])
        elif error == "channel_not_found":
            report.problem(f"{where}: channel {channel} does not exist, or is private without the bot in it",
                           "use the channel's ID (channel details → About → Channel ID), and for a private "
                           "channel invite the bot (/invite @backup-bot)")
        elif error == "missing_scope":
            report.problem(f"{where}: channel {channel} cannot be checked (missing_scope)",
                           "add channels:read and groups:read (or paste manifest.yml again), then reinstall")
        else:
            report.problem(f"{where}: channel {channel} cannot be checked ({error})", "check the channel ID")
    except OSError as exc:
        report.problem(f"{where}: channel {channel} cannot be checked ({type(exc).__name__})", "run doctor again")
    else:
        if (answer.get("channel") or {}).get("is_archived") is True:
            # Slack refuses every post there (is_archived): the audit channel's entries are given up for good.
            report.problem(f"{where}: channel {channel} is archived, and Slack refuses every post there",
                           "unarchive it, or name another channel")
            return
        report.ok(f"{where}: channel {channel} exists")


def check_slack(settings: Settings, report: Report) -> WebClient | None:
    # The bot's own client: Slack's answers judged as the bot judges them (slack_shapes).
    client = SlackClient(SlackHttp(timeout=10.0), token=settings.slack_bot_token, base_url=settings.slack_api_url)
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        trouble = slack_trouble(exc)
        if trouble is not None:
            report.problem(f"Slack cannot check SLACK_BOT_TOKEN ({trouble[0]})", trouble[1])
            return None
        fix = {"invalid_auth": "the token is wrong or was revoked: copy the Bot User OAuth Token (xoxb-…) again",
               "token_revoked": "reinstall the app to the workspace and copy the new bot token",
               "account_inactive": "reinstall the app to the workspace and copy the new bot token"}
        report.problem(f"Slack refused SLACK_BOT_TOKEN ({error})", fix.get(str(error), "check the token"))
        return None
    except OSError as exc:
        report.problem(f"Slack cannot be reached at {settings.slack_api_url} ({type(exc).__name__})",
                       "check the network, or SLACK_API_URL")
        return None
    report.ok(f"the bot token works: {answer.get('user')} in {answer.get('team')}")
    granted = {s.strip() for s in (answer.headers.get("x-oauth-scopes") or "").split(",") if s.strip()}
    missing = [s for s in REQUIRED_SCOPES if s not in granted]
    if missing:
        report.problem(f"the token lacks {'scopes' if len(missing) > 1 else 'the scope'} {', '.join(missing)}",
                       "add them under OAuth & Permissions → Bot Token Scopes (or paste manifest.yml again), then "
                       "reinstall the app")
    else:
        report.ok(f"all {len(REQUIRED_SCOPES)} scopes the bot needs are granted")
    return client


def is_group(listed: dict[str, object]) -> bool:
    """Whether a listed user group has the shape the bot reads (its ID, handle and members)."""
    try:
        Group.model_validate(listed)
    except ValidationError:
        return False
    return True
