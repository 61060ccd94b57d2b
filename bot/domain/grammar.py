"""The `/backup-policy` command grammar (the README's "Using it"), turned into typed commands.

Every rejection is a `CommandError` whose message names the bad part and says how to fix it.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import ValidationError

from bot.domain.policy import MAX_INT32, MAX_NAME_LENGTH, PolicyUpdate, control_character, invisible_character

MAX_TEXT_LENGTH = 4000
MAX_REASON_LENGTH = 500
# Always used with fullmatch: `$` would also accept a trailing newline.
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# A database name or a glob of them (`*`, `?`), for `export`.
DATABASE_GLOB = re.compile(r"[A-Za-z0-9_*?-]{1,64}")
EXPORT_FORMATS = ("terraform", "json")
QUOTES = {'"': '"', "“": "”", "”": "”", "„": "“"}
# Inside quotes, what ends a run: an escaped quote (group 1, kept) or the closing quote; `"` and `”` close each
# other, as people type them mixed, but the `“` that closes `„` is closed by nothing else.
QUOTED_UNTIL = {
    '"': re.compile(r'\\(["“”])|["”]'),
    "”": re.compile(r'\\(["“”])|["”]'),
    "“": re.compile(r'\\(["“”])|“'),
}
ESCAPED_QUOTE = re.compile(r'\\(["“”])')
WORD_END = re.compile(r'[\s"“”„]')
# A token of words and straight-quoted runs, when every straight quote is closed and nothing is escaped.
PLAIN_QUOTED_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
AMOUNT = re.compile(r"([+-]?[0-9]+(?:[.,][0-9]+)?)\s*([A-Za-z]*)")
CLOCK_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts characters such as "²" that int() refuses."""
    return text.isascii() and text.isdigit()


class CommandError(Exception):
    """A command that cannot be carried out as typed; `str()` is the answer for the caller."""


@dataclass(frozen=True)
class DatabaseRef:
    organization: str
    database: str

    def __str__(self) -> str:
        return f"{self.organization}/{self.database}"


def is_slug(text: str) -> bool:
    return SLUG.fullmatch(text) is not None


def database_ref(organization: str, database: str) -> DatabaseRef:
    """Names from outside, already checked with `is_slug`. PlanetScale's names are lowercase, so `App-DB` is
    `app-db`: the access rules judge the very name the bot then sends."""
    return DatabaseRef(organization.lower(), database.lower())


def refuse_control_characters(key: str, text: str) -> None:
    found = control_character(text)
    if found:
        raise CommandError(f"`{key}` holds a control character ({found}): write it as plain text on one line, "
                           "without tabs, line breaks or terminal escapes.")


def refuse_invisible_characters(key: str, text: str) -> None:
    found = invisible_character(text)
    if found:
        raise CommandError(f"`{key}` holds an invisible format character ({found}, e.g. a bidi override or a "
                           "zero-width space), which would let one name pass for another: type it without.")


@dataclass(frozen=True)
class HelpCommand:
    """Usage, limited to what the caller may do; words after `help` are not topics and are ignored."""


@dataclass(frozen=True)
class ListCommand:
    db: DatabaseRef


@dataclass(frozen=True)
class ShowCommand:
    db: DatabaseRef
    policy: str


@dataclass(frozen=True)
class EditCommand:
    db: DatabaseRef
    policy: str


@dataclass(frozen=True)
class HistoryCommand:
    db: DatabaseRef
    policy: str | None = None


@dataclass(frozen=True)
class PendingCommand:
    pass


@dataclass(frozen=True)
class StatusCommand:
    db: DatabaseRef


@dataclass(frozen=True)
class UpdateCommand:
    db: DatabaseRef
    policy: str
    update: PolicyUpdate
    reason: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class ExportCommand:
    """`db.database` may be a glob (`billing-*`) within the one organization."""

    db: DatabaseRef
    format: str = "terraform"


@dataclass(frozen=True)
class CreateCommand:
    """A new policy: `values` is the whole POST body (parsed as an update's keys); None opens the form."""

    db: DatabaseRef
    values: PolicyUpdate | None
    reason: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class DeleteCommand:
    db: DatabaseRef
    policy: str
    reason: str | None = None
    dry_run: bool = False


Command = (
    HelpCommand | ListCommand | ShowCommand | EditCommand | HistoryCommand | PendingCommand | UpdateCommand
    | StatusCommand | ExportCommand | CreateCommand | DeleteCommand
)

SUBCOMMANDS = ("help", "list", "show", "update", "edit", "history", "pending", "status", "export", "create",
               "delete")

UNITS: dict[str, str] = {
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "d": "day", "day": "day", "days": "day",
    "w": "week", "wk": "week", "wks": "week", "week": "week", "weeks": "week",
    "mo": "month", "mon": "month", "month": "month", "months": "month",
    "y": "year", "yr": "year", "yrs": "year", "year": "year", "years": "year",
}
NOT_UNITS: dict[str, str] = {
    "m": "`m` is ambiguous: write `mo` for months (minutes are not a backup unit)",
    "min": "minutes are not a backup unit: the shortest is hours, e.g. 1h",
    "mins": "minutes are not a backup unit: the shortest is hours, e.g. 1h",
    "minute": "minutes are not a backup unit: the shortest is hours, e.g. 1h",
    "minutes": "minutes are not a backup unit: the shortest is hours, e.g. 1h",
    "s": "seconds are not a backup unit: the shortest is hours, e.g. 1h",
}
DAYS: dict[str, int] = {
    "sun": 0, "sunday": 0, "mon": 1, "monday": 1, "tue": 2, "tues": 2, "tuesday": 2,
    "wed": 3, "wednesday": 3, "thu": 4, "thur": 4, "thurs": 4, "thursday": 4,
    "fri": 5, "friday": 5, "sat": 6, "saturday": 6,
}
WEEKS: dict[str, int] = {"1st": 0, "first": 0, "2nd": 1, "second": 1, "3rd": 2, "third": 2, "4th": 3, "fourth": 3}
TARGETS = ("production", "development")

# Keys users type -> the API fields they set (the contract's table, then the API's own names).
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "target": ("target",),
    "retention": ("retention_value", "retention_unit"),
    "frequency": ("frequency_value", "frequency_unit"),
    "at": ("schedule_time",),
    "day": ("schedule_day",),
    "week": ("schedule_week",),
    "retention_value": ("retention_value",),
    "retention_unit": ("retention_unit",),
    "frequency_value": ("frequency_value",),
    "frequency_unit": ("frequency_unit",),
    "schedule_time": ("schedule_time",),
    "schedule_day": ("schedule_day",),
    "schedule_week": ("schedule_week",),
}
KEY_EXAMPLES: dict[str, str] = {
    "name": 'name="Production daily"',
    "target": "target=production",
    "retention": "retention=30d",
    "frequency": "frequency=12h",
    "at": "at=02:00",
    "day": "day=sun",
    "week": "week=1st",
    "retention_value": "retention_value=30",
    "retention_unit": "retention_unit=day",
    "frequency_value": "frequency_value=12",
    "frequency_unit": "frequency_unit=hour",
    "schedule_time": "schedule_time=02:00",
    "schedule_day": "schedule_day=0",
    "schedule_week": "schedule_week=0",
}
FLAGS = ("--dry-run",)

USAGE_LINES = (
    ("help", "this help"),
    ("list <org>/<database>", "the database's backup policies"),
    ("show <org>/<database> <policy>", "one policy in full (<policy> is its ID or exact name)"),
    ("update <org>/<database> <policy> key=value… [reason=\"…\"] [--dry-run]", "change only the fields given"),
    ("edit <org>/<database> <policy>", "change a policy in a form"),
    ("history <org>/<database> [<policy>]", "the latest changes"),
    ("pending", "approval requests you can act on"),
    ("status <org>/<database>", "whether each policy's backups succeed: last success, failures, next run"),
    ("create <org>/<database> name=\"…\" target=… retention=… frequency=… at=… [reason=\"…\"] [--dry-run]",
     "a new policy (day= and week= for weekly and monthly ones)"),
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
    ("day", "sun…sat, or 0–6 (0 is Sunday), for weekly and monthly backups"),
    ("week", "1st…4th, for monthly backups"),
)
EXAMPLES = (
    '/backup-policy list acme/app-db',
    '/backup-policy show acme/app-db "Production daily"',
    '/backup-policy update acme/app-db "Production daily" retention=30d at=02:00 reason="audit asks 30 days"',
    '/backup-policy update acme/app-db "Development daily" frequency=1w day=sun retention=2w --dry-run',
    '/backup-policy create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00',
    '/backup-policy delete acme/app-db "Production weekly" reason="replaced by Nightly" --dry-run',
)


def closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    near = closest(word, choices)
    return f" Did you mean `{near}`?" if near else ""


class Token(NamedTuple):
    """A tuple, not a frozen dataclass: one is made for every word of every command, in the ack, and a tuple is
    the cheapest immutable record Python makes."""

    text: str
    quoted: bool


def tokenize(text: str) -> list[Token]:
    """Split on white space; double quotes (straight or curly) group words, and `\\"` is a literal quote."""
    curly = "“" in text or "”" in text or "„" in text
    if not curly and '"' not in text:  # most commands: str.split splits on the same white space
        return [Token(word, False) for word in text.split()]
    if not curly and "\\" not in text and text.count('"') % 2 == 0:
        # Most of the rest: straight quotes, each closed, nothing escaped. One match a token, as tokenize_runs
        # splits them (a property test holds the two together).
        return [Token(found.replace('"', ""), '"' in found) for found in PLAIN_QUOTED_TOKEN.findall(text)]
    return tokenize_runs(text)


def tokenize_runs(text: str) -> list[Token]:
    """Any text, quotes of every kind and escapes. Runs of characters, not one character at a time, so that a long
    quoted policy name costs the ack little. A regular expression's white space is str.isspace()'s, as
    str.split's is."""
    tokens: list[Token] = []
    current: list[str] = []
    quoted = in_token = False
    i, end = 0, len(text)
    while i < end:
        ch = text[i]
        if ch in QUOTES:
            quoted = in_token = True
            inside = QUOTED_UNTIL[QUOTES[ch]]
            i += 1
            while True:
                stop = inside.search(text, i)
                if stop is None:
                    current.append(ESCAPED_QUOTE.sub(r"\1", text[i:]))
                    start = "".join(current)[:30]
                    raise CommandError(f"A quote is not closed (after `\"{start}`): close it with another `\"`.")
                current.append(text[i:stop.start()])
                i = stop.end()
                if stop.group(1) is None:  # the closing quote
                    break
                current.append(stop.group(1))  # an escaped quote, kept as a quote
        elif ch.isspace():
            if in_token:
                tokens.append(Token("".join(current), quoted))
            current, quoted, in_token = [], False, False
            i += 1
        else:
            stop = WORD_END.search(text, i)
            j = stop.start() if stop else end
            current.append(text[i:j])
            in_token = True
            i = j
    if in_token:
        tokens.append(Token("".join(current), quoted))
    return tokens


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
    if token is None or ("=" in token.text and not token.quoted):
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


def reject_extra(tokens: list[Token], subcommand: str, example: str) -> None:
    if tokens:
        extra = " ".join(t.text for t in tokens)
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
        reject_extra(rest, "pending", "/backup-policy pending")
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
        reject_extra(rest, "list", f"/backup-policy list {db}")
        return ListCommand(db)
    if head == "status":
        reject_extra(rest, "status", f"/backup-policy status {db}")
        return StatusCommand(db)
    if head in ("create", "delete"):
        from bot.domain.lifecycle_grammar import parse_create, parse_delete

        return parse_create(db, rest) if head == "create" else parse_delete(db, rest)
    if head == "history":
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


def parse_update(db: DatabaseRef, policy: str, tokens: list[Token]) -> UpdateCommand:
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
            raise CommandError(f"Unknown option `{token.text[:40]}`.{did_you_mean(flag, FLAGS)} "
                               "The only option is `--dry-run`.")
        if "=" not in token.text:
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
            reason = value.strip()
            refuse_control_characters("reason", reason)
            if not reason:
                raise CommandError('`reason=` is empty: write it in quotes, e.g. reason="audit asks 30 days".')
            if len(reason) > MAX_REASON_LENGTH:
                raise CommandError(f"The reason is {len(reason)} characters; the most is {MAX_REASON_LENGTH}.")
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
    if not values:
        raise CommandError(
            f"Nothing to change: add at least one key=value, e.g. "
            f"`/backup-policy update {db} \"{policy}\" retention=30d`. Keys: "
            f"{', '.join(k for k in KEY_FIELDS if '_' not in k)}."
        )
    try:
        update = PolicyUpdate(**values)
    except ValidationError as exc:  # the checks above should have caught it; say what pydantic found
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first["loc"] else "value"
        raise CommandError(f"`{typed.get(where, where)}`: {first['msg']}.") from None
    return UpdateCommand(db, policy, update, reason, dry_run)


def parse_value(key: str, value: str) -> dict[str, Any]:
    raw = value.strip()
    low = raw.lower()
    if key == "name":
        refuse_control_characters("name", raw)
        refuse_invisible_characters("name", raw)
        if not raw or len(raw) > MAX_NAME_LENGTH:
            raise CommandError(f"`name` must be 1 to {MAX_NAME_LENGTH} characters.")
        return {"name": raw}
    if key == "target":
        if low not in TARGETS:
            hint = {"prod": "production", "dev": "development"}.get(low) or closest(low, TARGETS)
            near = f" Did you mean `target={hint}`?" if hint else ""
            raise CommandError(f"`target={raw[:40]}` is not a target.{near} Use production or development.")
        return {"target": low}
    if key in ("retention", "frequency"):
        number, unit = parse_amount(key, raw)
        return {f"{key}_value": number, f"{key}_unit": unit}
    if key in ("retention_value", "frequency_value"):
        return {key: parse_count(key, raw)}
    if key in ("retention_unit", "frequency_unit"):
        return {key: parse_unit(key, low, raw)}
    if key in ("at", "schedule_time"):
        return {"schedule_time": parse_time(key, raw)}
    if key in ("day", "schedule_day"):
        return {"schedule_day": parse_day(key, low, raw)}
    if key == "week":
        if low in WEEKS:
            return {"schedule_week": WEEKS[low]}
        if is_number(low):
            raise CommandError(f"`week={raw}`: write the week as 1st, 2nd, 3rd or 4th (or first…fourth), "
                               "e.g. `week=1st`; `schedule_week` takes the API's 0–3.")
        raise CommandError(f"`week={raw[:40]}` is not a week of the month: use 1st, 2nd, 3rd or 4th, "
                           "e.g. `week=1st` (there is no 5th or last week).")
    if key == "schedule_week":
        if is_number(raw) and 0 <= int(raw) <= 3:
            return {"schedule_week": int(raw)}
        raise CommandError(f"`schedule_week={raw[:40]}` must be 0 to 3 (0 is the first week), "
                           "or write `week=1st`.")
    raise CommandError(f"Unknown key `{key}`.")  # pragma: no cover - KEY_FIELDS and this list agree


def parse_count(key: str, raw: str) -> int:
    if WHOLE_NUMBER.fullmatch(raw):
        number = int(raw)
        if number < 1:
            raise CommandError(f"`{key}={raw}`: must be at least 1.")
        if number > MAX_INT32:
            raise CommandError(f"`{key}={raw[:20]}` is too large: the most is {MAX_INT32}.")
        return number
    raise CommandError(f"`{key}={raw[:40]}` is not a whole number: e.g. `{KEY_EXAMPLES[key]}`.")


def parse_unit(key: str, low: str, raw: str) -> str:
    if low in NOT_UNITS:
        raise CommandError(f"`{key}={raw}`: {NOT_UNITS[low]}.")
    unit = UNITS.get(low)
    if unit is None:
        raise CommandError(f"`{key}={raw[:40]}` is not a unit: use hour, day, week, month"
                           f"{', year' if key.startswith('retention') else ''}.{did_you_mean(low, list(UNITS))}")
    if unit == "year" and key.startswith("frequency"):
        raise CommandError(f"`{key}={raw}`: backups cannot run yearly; the longest frequency is months, "
                           "e.g. `frequency=12mo`.")
    return unit


def parse_amount(key: str, raw: str) -> tuple[int, str]:
    example = KEY_EXAMPLES[key]
    match = AMOUNT.fullmatch(raw)
    if not match:
        raise CommandError(f"`{key}={raw[:40]}` is not an amount: write a whole number and a unit, "
                           f"e.g. `{example}` or `{key}=\"30 days\"`.")
    number_text, unit_text = match.groups()
    if not unit_text:
        raise CommandError(f"`{key}={raw}` needs a unit: e.g. `{raw}d` (h, d, w, mo"
                           f"{', y' if key == 'retention' else ''}).")
    unit = parse_unit(key, unit_text.lower(), raw)
    if not WHOLE_NUMBER.fullmatch(number_text):
        raise CommandError(f"`{key}={raw}`: use a whole number, e.g. 36h rather than 1.5d.")
    return parse_count(key, number_text), unit


def parse_time(key: str, raw: str) -> str:
    match = CLOCK_TIME.fullmatch(raw)
    if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
        return f"{int(match.group(1)):02d}:{match.group(2)}"
    hint = " (24-hour clock: 2pm is 14:00)" if re.search(r"[ap]\.?m", raw.lower()) else ""
    raise CommandError(f"`{key}={raw[:40]}` is not a time: write HH:MM on a 24-hour clock in UTC, "
                       f"e.g. `{key}=02:00`{hint}.")


def parse_day(key: str, low: str, raw: str) -> int:
    if low in DAYS:
        return DAYS[low]
    if is_number(low) and int(low) <= 6:
        return int(low)
    raise CommandError(f"`{key}={raw[:40]}` is not a day: use sun, mon, tue, wed, thu, fri, sat (or the full "
                       f"name), or 0–6 where 0 is Sunday.{did_you_mean(low, list(DAYS))}")
