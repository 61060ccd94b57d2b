"""The `/backup-policy` command grammar (the README's "Using it"), turned into typed commands.

Every rejection is a `CommandError` whose message names the bad part and says how to fix it.
"""

from __future__ import annotations

import html
import re
from typing import Any

from pydantic import ValidationError

from bot.domain.commands import (
    SUBCOMMANDS,
    Command,
    CommandError,
    CreateCommand,
    DatabaseRef,
    DeleteCommand,
    EditCommand,
    ExportCommand,
    HelpCommand,
    HistoryCommand,
    ListCommand,
    PendingCommand,
    ShowCommand,
    StatusCommand,
    UpdateCommand,
    database_ref,
    is_slug,
)
from bot.domain.field_problems import field_problems
from bot.domain.policy import (
    MAX_NAME_LENGTH,
    REQUIRED_TO_CREATE,
    PolicyUpdate,
    control_character,
    first_unseen,
    shows_something,
)
from bot.domain.setting_values import (
    KEY_EXAMPLES,
    KEY_FIELDS,
    did_you_mean,
    is_number,
    parse_value,
    refuse_control_characters,
)
from bot.domain.tokens import Token, tokenize

MAX_TEXT_LENGTH = 4000
MAX_REASON_LENGTH = 500


# A database name or a glob of them (`*`, `?`), for `export`.
DATABASE_GLOB = re.compile(r"[A-Za-z0-9_*?-]{1,64}")
EXPORT_FORMATS = ("terraform", "json")


FLAGS = ("--dry-run",)

USAGE_LINES = (
    ("help", "this help"),
    ("list <org>/<database>", "the database's backup policies"),
    ("show <org>/<database> <policy>", "one policy in full (<policy> is its ID or exact name)"),
    ("update <org>/<database> <policy> key=value… [reason=\"…\"] [--dry-run]", "change only the fields given"),
    ("edit <org>/<database> <policy>", "change a policy in a form"),
    ("update <org>/<glob> <policy or glob> [--where target=…] key=value…",
     "one change over many policies (at most 100), approved once, each applied on its own"),
    ("edit <org>/<glob> [<policy glob>]", "the same, choosing the policies in a form"),
    ("history <org>/<database> [<policy>]", "the latest changes"),
    ("pending", "approval requests you can act on"),
    ("status <org>/<database>", "whether each policy's backups succeed: last success, failures, next run"),
    ("create <org>/<database> name=\"…\" target=… retention=… frequency=… at=… [day=…] [week=…] [reason=\"…\"] "
     "[--dry-run]",
     "a new policy (day= for weekly and monthly ones, week= for monthly ones); with no settings, a form"),
    ("delete <org>/<database> <policy> [reason=\"…\"] [--dry-run]", "remove a policy (never a required one)"),
    ("export <org>/<database or glob> [terraform|json]",
     "the policies as code: Terraform resources with import blocks (the default), or JSON"),
)
UPDATE_KEYS_HELP = (
    ("name", "text, quoted if it has spaces"),
    ("target", "production or development"),
    ("retention", "30d, 2 weeks, 12h, 6mo, 1y"),
    ("frequency", "12h, 1d, 1w, 1mo (no years)"),
    ("at", "HH:MM, 24-hour, UTC"),
    ("day", "sun…sat, full names, or 0–6 (0 is Sunday), for weekly and monthly backups"),
    ("week", "1st…4th or first…fourth, for monthly backups"),
)
EXAMPLES = (
    '/backup-policy list acme/app-db',
    '/backup-policy show acme/app-db "Production daily"',
    '/backup-policy status acme/app-db',
    '/backup-policy update acme/app-db "Production daily" retention=30d at=02:00 reason="audit asks 30 days"',
    '/backup-policy update acme/app-db "Development daily" frequency=1w day=sun retention=2w --dry-run',
    '/backup-policy create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00',
    '/backup-policy delete acme/app-db "Production weekly" reason="replaced by Nightly" --dry-run',
    '/backup-policy update acme/* "Production daily" --where target=production retention=3d --dry-run',
)


def parse_database(token: Token | None, subcommand: str) -> DatabaseRef:
    if token is None:
        raise CommandError(
            f"`{subcommand}` needs a database as <organization>/<database>, "
            f"e.g. `/backup-policy {subcommand} acme/app-db`."
        )
    parts = token.text.split("/")
    if len(parts) != 2 or not all(parts):
        raise CommandError(
            f"`{token.text}` is not <organization>/<database>: write both, separated by one `/`, "
            "e.g. `acme/app-db`."
        )
    for part, what in zip(parts, ("organization", "database"), strict=True):
        if not is_slug(part):
            raise CommandError(
                f"`{part}` is not a valid {what} name: use the slug PlanetScale shows "
                "(letters, digits, `-` and `_`, at most 64), e.g. `acme/app-db`."
            )
    return database_ref(parts[0], parts[1])


def parse_policy_ref(token: Token | None, subcommand: str, db: DatabaseRef) -> str:
    if token is None or (not token.quoted and ("=" in token.text or token.text.startswith("--"))):
        if any(c in db.database for c in "*?"):  # many databases: `list` shows one at a time
            setting = " retention=30d" if subcommand == "update" else ""
            raise CommandError(
                f"`{subcommand}` needs a policy after the databases: a name, a name glob or `*` for all of them, "
                f'quoted if it has spaces, e.g. `/backup-policy {subcommand} {db} "Production daily"{setting}` or '
                f"`/backup-policy {subcommand} {db} *{setting}`."
            )
        raise CommandError(
            f"`{subcommand}` needs a policy after the database: its ID or exact name, quoted if it has "
            f'spaces, e.g. `/backup-policy {subcommand} {db} "Production daily"`. '
            f"`/backup-policy list {db}` shows them."
        )
    ref = token.text
    if not ref.strip() or len(ref) > MAX_NAME_LENGTH or control_character(ref):
        raise CommandError(
            f"The policy must be an ID or a name of 1 to {MAX_NAME_LENGTH} characters on one line."
        )
    return ref


def reject_extra(tokens: list[Token], subcommand: str, example: str, takes: str = "") -> None:
    """Words left after a command's last part; `takes` names what the command takes when it names no policy."""
    if tokens:
        extra = " ".join(t.text for t in tokens)
        if takes:
            raise CommandError(f"Unexpected `{extra[:80]}` after `{subcommand}`: it takes {takes}, e.g. `{example}`.")
        raise CommandError(
            f"Unexpected `{extra[:80]}` after `{subcommand}`. Quote a policy name that has spaces, "
            f"e.g. `{example}`."
        )


def parse(text: str) -> Command:
    """Parse the text after `/backup-policy`."""
    if len(text) > MAX_TEXT_LENGTH:
        raise CommandError(f"The command is {len(text)} characters long; the most is {MAX_TEXT_LENGTH}.")
    tokens = tokenize(html.unescape(text))
    if not tokens:
        return HelpCommand()
    head, rest = tokens[0].text.lower(), tokens[1:]
    if head in ("help", "-h", "--help", "?"):
        return HelpCommand()
    if head == "pending":
        reject_extra(rest, "pending", "/backup-policy pending", takes="nothing more")
        return PendingCommand()
    if head not in SUBCOMMANDS:
        raise CommandError(
            f"Unknown subcommand `{tokens[0].text[:40]}`.{did_you_mean(head, SUBCOMMANDS)} "
            f"Use one of: {', '.join(SUBCOMMANDS)}; `/backup-policy help` shows examples."
        )
    if head == "export":
        return parse_export(rest)
    db = parse_database(rest[0] if rest else None, head)
    rest = rest[1:]
    if head == "list":
        reject_extra(rest, "list", f"/backup-policy list {db}", takes="only a database")
        return ListCommand(db)
    if head == "status":
        reject_extra(rest, "status", f"/backup-policy status {db}", takes="only a database")
        return StatusCommand(db)
    if head == "create":
        return parse_create(db, rest)
    if head == "delete":
        return parse_delete(db, rest)
    if head == "history":
        if rest and not rest[0].quoted and rest[0].text.startswith("--"):
            reject_extra(rest, "history", f'/backup-policy history {db} "Production daily"',
                         takes="a database and, if you like, a policy")
        policy = parse_policy_ref(rest[0], head, db) if rest else None
        reject_extra(rest[1:], "history", f'/backup-policy history {db} "Production daily"')
        return HistoryCommand(db, policy)
    policy = parse_policy_ref(rest[0] if rest else None, head, db)
    rest = rest[1:]
    if head == "show":
        reject_extra(rest, "show", f'/backup-policy show {db} "{policy} …"')
        return ShowCommand(db, policy)
    if head == "edit":
        reject_extra(rest, "edit", f'/backup-policy edit {db} "{policy} …"')
        return EditCommand(db, policy)
    return parse_update(db, policy, rest)


def parse_export(tokens: list[Token]) -> ExportCommand:
    first = tokens[0] if tokens else None
    parts = first.text.split("/") if first else []
    if len(parts) == 2 and not is_slug(parts[0]) and any(c in parts[0] for c in "*?"):
        raise CommandError(f"`{parts[0][:64]}`: an export covers one organization, so no glob there: name it, "
                           "e.g. `acme/*`.")
    if first is None or len(parts) != 2 or not any(c in parts[1] for c in "*?") \
            or not DATABASE_GLOB.fullmatch(parts[1]):
        # Not a glob: a plain database, whose message says what is wrong.
        db = parse_database(first, "export")
    elif not is_slug(parts[0]):
        db = parse_database(Token(f"{parts[0]}/x", first.quoted), "export")  # the organization's message
    else:
        db = DatabaseRef(parts[0].lower(), parts[1].lower())
    rest = tokens[1:]
    chosen = "terraform"
    if rest:
        word = rest[0].text.lower()
        if word not in EXPORT_FORMATS:
            raise CommandError(f"`{rest[0].text[:40]}` is not an export format.{did_you_mean(word, EXPORT_FORMATS)} "
                               f"Use terraform (the default) or json, e.g. `/backup-policy export {db} json`.")
        chosen = word
    if rest[1:]:
        raise CommandError(f"Unexpected `{' '.join(t.text for t in rest[1:])[:80]}` after `export`: it takes a "
                           f"database (or a glob) and a format, e.g. `/backup-policy export {db} {chosen}`.")
    return ExportCommand(db, chosen)


def parse_update(db: DatabaseRef, policy: str, tokens: list[Token], creating: bool = False,
                 bulk: bool = False) -> UpdateCommand:
    """`key=value…`, `reason=` and `--dry-run` after an update's policy, or (`creating`) a new policy's settings;
    `bulk`: `--where` was taken out already, and is an option too."""
    values: dict[str, Any] = {}
    typed: dict[str, str] = {}
    reason: str | None = None
    dry_run = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.text.startswith("--") and not token.quoted:
            flag = token.text.lower()
            if flag in ("--dry-run", "--dryrun"):
                dry_run = True
                continue
            if bulk:
                raise CommandError(f"Unknown option `{token.text[:40]}`.{did_you_mean(flag, (*FLAGS, '--where'))} "
                                   "The options are `--dry-run` and `--where target=production` (or development).")
            raise CommandError(f"Unknown option `{token.text[:40]}`.{did_you_mean(flag, FLAGS)} "
                               "The only option is `--dry-run`.")
        if "=" not in token.text:
            if creating:
                raise CommandError(f"Unexpected `{token.text[:60]}`: a new policy's settings are written key=value, "
                                   f'e.g. `name="{token.text[:60]}"` or `retention=7d`; quote values that have spaces.')
            if not values and not token.quoted:
                raise CommandError(
                    f"Unexpected `{token.text[:60]}`: changes are written key=value, e.g. `retention=30d`. "
                    f'If it is part of the policy name, quote the whole name: `"{policy} {token.text}"`.'
                )
            raise CommandError(f"Unexpected `{token.text[:60]}`: changes are written key=value, "
                               "e.g. `retention=30d`; quote values that have spaces.")
        key_text, value = token.text.split("=", 1)
        key = key_text.strip().lower()
        if key == "reason":
            if reason is not None:
                raise CommandError("`reason` is given twice: give it once.")
            reason = parse_reason(value, "audit asks 30 days")
            continue
        if key not in KEY_FIELDS:
            raise CommandError(
                f"Unknown key `{key_text[:40]}`.{did_you_mean(key, [*KEY_FIELDS, 'reason'])} "
                f"Keys: {', '.join(k for k in KEY_FIELDS if '_' not in k)}, reason (or the API's field names)."
            )
        if value == "" and not token.quoted:
            raise CommandError(f"`{key}=` has no value: e.g. `{KEY_EXAMPLES[key]}`.")
        # `retention=30 days`: a bare number followed by a unit word is one value.
        if (key in ("retention", "frequency") and not token.quoted and is_number(value)
                and i < len(tokens) and tokens[i].text.isalpha()):
            value = f"{value} {tokens[i].text}"
            i += 1
        for api_field in KEY_FIELDS[key]:
            if api_field in values:
                raise CommandError(
                    f"`{key}` sets {api_field}, which `{typed[api_field]}` already set: give it once."
                )
        parsed = parse_value(key, value)
        values.update(parsed)
        for api_field in parsed:
            typed[api_field] = key
    if not values and creating:
        raise CommandError(f"A new policy needs its settings as key=value, e.g. "
                           f"`/backup-policy create {db} {CREATE_EXAMPLE}`.")
    if not values:
        raise CommandError(
            f"Nothing to change: add at least one key=value, e.g. "
            f"`/backup-policy update {db} \"{policy}\" retention=30d`. Keys: "
            f"{', '.join(k for k in KEY_FIELDS if '_' not in k)}."
        )
    try:
        update = PolicyUpdate(**values)
    except ValidationError as exc:  # the checks above should have caught it; say what pydantic found
        first = field_problems(exc)[0]
        where = first.field or "value"
        raise CommandError(f"`{typed.get(where, where)}`: {first.message}.") from None
    return UpdateCommand(db, policy, update, reason, dry_run)


CREATE_EXAMPLE = 'name="Nightly" target=production retention=7d frequency=1d at=02:00'


def parse_create(db: DatabaseRef, tokens: list[Token]) -> CreateCommand:
    if not tokens:
        return CreateCommand(db, None)  # the form
    if not any("=" in t.text for t in tokens):
        raise CommandError(f"`create` needs the new policy's settings as key=value, e.g. "
                           f"`/backup-policy create {db} {CREATE_EXAMPLE}`.")
    parsed = parse_update(db, "", tokens, creating=True)
    given = parsed.update.to_api()
    missing = list(dict.fromkeys(example for field, example in REQUIRED_TO_CREATE.items() if field not in given))
    if missing:
        raise CommandError(f"A new policy needs {', '.join(f'`{m}`' for m in missing)} as well, e.g. "
                           f"`/backup-policy create {db} {CREATE_EXAMPLE}`.")
    return CreateCommand(db, parsed.update, parsed.reason, parsed.dry_run)


def parse_delete(db: DatabaseRef, tokens: list[Token]) -> DeleteCommand:
    policy = parse_policy_ref(tokens[0] if tokens else None, "delete", db)
    reason: str | None = None
    dry_run = False
    for token in tokens[1:]:
        key = token.text.split("=", 1)[0].strip().lower()
        if token.text.lower() in ("--dry-run", "--dryrun") and not token.quoted:
            dry_run = True
        elif key == "reason" and "=" in token.text:
            if reason is not None:
                raise CommandError("`reason` is given twice: give it once.")
            reason = parse_reason(token.text.split("=", 1)[1])
        else:
            hint = " Only `reason=\"…\"` and `--dry-run` may follow the policy." if key in KEY_FIELDS or \
                "=" not in token.text else ""
            raise CommandError(f"Unexpected `{token.text[:60]}` after `delete {db} {policy[:60]}`.{hint} Quote a "
                               f'policy name that has spaces, e.g. `/backup-policy delete {db} "Weekly archive"`.')
    return DeleteCommand(db, policy, reason, dry_run)


def parse_reason(value: str, example: str = "no longer needed") -> str:
    """A reason a person gives: plain text on one line that draws at least one character."""
    reason = value.strip()
    refuse_control_characters("reason", reason)
    if not reason:
        raise CommandError(f'`reason=` is empty: write it in quotes, e.g. reason="{example}".')
    if not shows_something(reason):
        raise CommandError(f"`reason=` shows nothing: it holds only invisible characters (such as "
                           f'{first_unseen(reason)}). Write why in words, e.g. reason="{example}".')
    if len(reason) > MAX_REASON_LENGTH:
        raise CommandError(f"The reason is {len(reason)} characters; the most is {MAX_REASON_LENGTH}.")
    return reason
