"""`backup-bot audit export` and `backup-bot audit prune`: the bot's own trail, filtered, streamed, pruned."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import operator
import os
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from bot.adapters.store.connection import refusal
from bot.domain.audit import BIDI, AuditEvent, csv_text
from bot.domain.backups import parse_time
from bot.domain.naming import OUTSIDE_START, unmarked
from bot.domain.policy import lone_surrogate
from bot.runtime.database import reason_of
from bot.runtime.output import data_in_utf8
from bot.runtime.settings import Settings, SettingsError

AGE = re.compile(r"([0-9]{1,6})\s*(h|d|w|y)")
AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "y": timedelta(days=365)}
ORG_DB = re.compile(r"[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*")
# Entries written before the domain named people plainly hold Slack's mentions: exported as the newer ones read
# (bot/domain/naming.py), so that people and machines meet one form.
OLD_MENTION = re.compile(r"<(@|!subteam\^|#)([A-Z0-9]+)(?:\|[^<>]*)?>")
OLD_SIGIL = {"@": "@", "!subteam^": "@", "#": "#"}
# A person as Slack and the trail show them (`<@U0ALICE001|alice>`, `@U0ALICE001`, typed in lowercase): the ID
# the trail's actor column holds. The bot's own actors (`backup-bot`) hold a `-` and are matched as written.
ACTOR_MENTION = re.compile(r"<@([A-Za-z0-9]+)(?:\|[^<>]*)?>")
SLACK_ID = re.compile(r"[A-Za-z][A-Za-z0-9]+")


FIELDS = tuple(f.name for f in fields(AuditEvent))
DETAIL_AT = FIELDS.index("detail")  # the domain's words, where a name from outside is marked (naming.outside)
JSON_FIELDS = ("sent", "before", "after")  # those stored as JSON: last first, for `json_lines`
JSON_AT = tuple(FIELDS.index(name) for name in JSON_FIELDS)
JSON_COLUMNS = sorted(JSON_AT)
# A JSON line's fields in json.dumps(sort_keys=True)'s order, each taken from an entry's tuple (or, for the JSON
# fields, from the None after it), written by an encoder that keeps that order instead of sorting each line.
IN_ORDER = sorted(FIELDS)
in_order = operator.itemgetter(*(len(FIELDS) if name in JSON_FIELDS else FIELDS.index(name) for name in IN_ORDER))
JSON_IN_ORDER = json.JSONEncoder()
JSON_KEYS = [(i, f'"{name}": null', f'"{name}": ') for name, i in zip(JSON_FIELDS, JSON_AT, strict=True)]
SORTED_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(value, sort_keys=True), made once
# A row's cells joined, each after a NUL: what `csv_text` would change (a control character, a lone surrogate, a
# bidi control, a line separator, a formula's first character at a cell's start) or `plain` would (a `<`). Rows
# without any are written as they are.
TOUCHED = re.compile(f"[\x01-\x1f\x7f-\x9f\ud800-\udfff{BIDI}\u2028\u2029<]|\x00[=+\\-@]")
# Distinct JSON texts remembered, each decoded and written once: a policy's state recurs in the entries of each
# request and check on it. Bounded, so memory stays flat however long the trail.
REMEMBERED = 4096
HOLE = "\x01"


def plain(value: object) -> object:
    if isinstance(value, str) and "<" in value:
        return OLD_MENTION.sub(lambda m: OLD_SIGIL[m.group(1)] + m.group(2), value)
    return value


def detail_unmarked(values: Sequence[Any]) -> Sequence[Any]:
    """An entry's values with its detail `unmarked`: a file shows the name as written, with no invisible marks."""
    detail = values[DETAIL_AT]
    if detail.__class__ is str and OUTSIDE_START in detail:
        return (*values[:DETAIL_AT], unmarked(detail), *values[DETAIL_AT + 1:])
    return values


def actor_id(given: str) -> str:
    who = given.strip()
    mention = ACTOR_MENTION.fullmatch(who)
    who = mention.group(1) if mention else who.removeprefix("@")
    return who.upper() if SLACK_ID.fullmatch(who) else who


def text_of(value: object) -> str:
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    return SORTED_JSON.encode(value) if isinstance(value, dict) else str(value)


# Stored JSON texts that do not decode (SQLite keeps whatever text a hand or a broken disk wrote): each is exported
# as the text stored, and the entries holding one are named on stderr.
DAMAGED: set[str] = set()


def loaded(stored: str) -> object:
    try:
        return json.loads(stored)
    except (ValueError, RecursionError):
        DAMAGED.add(stored)
        return stored


def tell_damaged(batch: Sequence[Sequence[Any]]) -> None:
    for values in batch:
        for name, i in zip(JSON_FIELDS, JSON_AT, strict=True):
            if values[i] in DAMAGED:
                at, action, org, db = (values[FIELDS.index(f)] for f in ("at", "action", "organization", "database"))
                print(f"backup-bot: the audit entry of {at} ({action}, {org}/{db}) holds a `{name}` that is not "
                      "JSON; it is exported as the text stored.", file=sys.stderr)


@functools.lru_cache(maxsize=REMEMBERED)
def csv_json(stored: str | None) -> str:
    """A stored JSON text's CSV cell, quoted as the CSV writer quotes it among others."""
    cell = csv_text(text_of(plain(None if stored is None else loaded(stored))))
    if not cell:
        return ""
    quoted = io.StringIO()
    csv.writer(quoted, lineterminator="").writerow([cell])
    return quoted.getvalue()


@functools.lru_cache(maxsize=REMEMBERED)
def jsonl_json(stored: str) -> str:
    """A stored JSON text as its entry's JSON line writes it."""
    return SORTED_JSON.encode(plain(loaded(stored)))


def csv_lines(batch: Sequence[Sequence[Any]]) -> str:
    """Entries (JSON fields as stored text) as CSV lines, each cell `csv_cell(plain(value))` (the detail
    `detail_unmarked` first), most rows with one look at their cells together. The JSON cells, long and full of
    quotes, are quoted once per distinct text: the writer writes a HOLE in their place, which no other cell holds
    once `csv_text` has escaped control characters."""
    rows = []
    for values in map(detail_unmarked, batch):
        cells = [v if v.__class__ is str else text_of(v) for v in values]
        for i in JSON_AT:  # looked at apart
            cells[i] = ""
        joined = "\x00" + "\x00".join(cells)
        if TOUCHED.search(joined) or joined.count("\x00") != len(cells):
            cells = [csv_text(text_of(plain(v))) for v in values]
        for i in JSON_AT:
            cells[i] = HOLE
        rows.append(cells)
    written = io.StringIO()
    csv.writer(written).writerows(rows)
    parts = written.getvalue().split(HOLE)
    filled: list[str] = [""] * (2 * len(parts) - 1)
    filled[0::2] = parts
    filled[1::2] = [csv_json(values[i]) for values in batch for i in JSON_COLUMNS]
    return "".join(filled)


def json_lines(batch: Sequence[tuple[Any, ...]]) -> str:
    """Entries (JSON fields as stored text) as JSON lines, each `json.dumps` of its values after `plain` (the
    detail `detail_unmarked` first), which writes every control character as an escape (ensure_ascii)."""
    lines = []
    for values in map(detail_unmarked, batch):
        row = dict(zip(IN_ORDER, in_order((*values, None)), strict=True))  # the JSON fields None for now
        line = JSON_IN_ORDER.encode(row)
        if "<" in line:
            line = JSON_IN_ORDER.encode({k: plain(v) for k, v in row.items()})
        # Each JSON field's text in place of its null, the last field first: before a field's key there are
        # only strings (every `"` in them escaped) and nulls, so its key is the first `"name": null` in the line.
        for i, null, key in JSON_KEYS:
            if values[i] is not None:
                line = line.replace(null, key + jsonl_json(values[i]), 1)
        lines.append(line + "\n")
    return "".join(lines)


def database_errors() -> tuple[type[Exception], ...]:
    """What a database raises (SQLite's own from a transaction's start, which SQLAlchemy does not wrap)."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    return SQLAlchemyError, sqlite3.Error


class UsageError(Exception):
    """A bad argument: the message names it and the form it takes."""


def entry_time(moment: datetime) -> str:
    """A moment as the audit entries write theirs, so that the two compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_age(text: str, now: datetime) -> datetime:
    match = AGE.fullmatch(text.strip().lower())
    if not match:
        raise UsageError(f"`{text[:40]}` is not an age: write e.g. 12h, 30d, 8w or 1y")
    try:
        return now - int(match.group(1)) * AGE_UNITS[match.group(2)]
    except OverflowError:
        raise UsageError(f"`{text[:40]}` reaches back before the year 1: write a shorter age") from None


def parse_when(text: str, now: datetime) -> str:
    """`2026-01-31`, `2026-01-31T12:00:00Z` (or with an offset), or an age back from now (`30d`)."""
    if AGE.fullmatch(text.strip().lower()):
        return entry_time(parse_age(text, now))
    try:
        moment = parse_time(text.strip())  # UTC when it names no zone
    except ValueError:
        raise UsageError(f"`{text[:40]}` is not a time: write a date (2026-01-31), a UTC time "
                         "(2026-01-31T12:00:00Z) or an age back from now (30d, 12h)") from None
    try:
        return entry_time(moment)
    except OverflowError:  # an offset carrying it past year 9999 or before year 1 in UTC
        raise UsageError(f"`{text[:40]}` lies outside the years 1 to 9999 in UTC: write a time within them") from None


class Stopped(Exception):
    """The export (or prune) was asked to stop by a signal: `written` entries, each whole, are out (deleted)."""

    def __init__(self, number: int, written: int):
        super().__init__(number, written)
        self.number, self.written = number, written


# The signal that asked the export (or prune) to stop, noted by its handler and acted on between two batches.
STOP_ASKED: list[int] = []


def stop_asked(number: int, frame: object) -> None:
    if STOP_ASKED:  # asked again (a read that takes long): stopped at once, as without this handler
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    STOP_ASKED.append(number)


def export(out: TextIO, fmt: str, since: str | None, until: str | None, db: str | None, actor: str | None,
           now: datetime) -> int:
    from bot.runtime.database import open_store

    organization = database = None
    # Given empty (`--actor "$WHO"` with WHO unset), a filter would be none: every entry, where some were asked for.
    for option, value, fix in (("--since", since, "a date, a UTC time or an age (30d)"),
                               ("--until", until, "a date, a UTC time or an age (30d)"),
                               ("--actor", actor, "a Slack user ID, e.g. U0ALICE001")):
        if value is not None and not value.strip():
            raise UsageError(f"{option} is empty: write {fix}, or leave {option} out for every entry")
    if db is not None:
        if not ORG_DB.fullmatch(db.strip().lower()):
            raise UsageError(f"--db `{db[:60]}`: write the organization and the database, e.g. acme/app-db")
        organization, database = db.strip().lower().split("/")
    if actor is not None and lone_surrogate(actor):  # bytes the terminal gave that are not UTF-8
        raise UsageError("--actor: the name given is not UTF-8 text: write a Slack user ID, e.g. U0ALICE001")
    start = parse_when(since, now) if since else None
    end = parse_when(until, now) if until else None
    if since and until and start is not None and end is not None and start >= end:  # entry_time's text, alike
        raise UsageError(f"--since {since.strip()[:40]} is not before --until {until.strip()[:40]}, so no entry "
                         "lies between them: swap them, or widen the range.")
    settings = Settings.load()
    store = open_store(settings.database_url)
    try:
        writer = csv.writer(out) if fmt == "csv" else None
        if writer:
            writer.writerow(FIELDS)
        written = 0
        for batch in store.event_batches(since=start, until=end, organization=organization, database=database,
                                         actor=actor_id(actor) if actor else None, json_as_text=True):
            if writer:
                out.write(csv_lines(batch))
            else:
                out.write(json_lines(batch))
            written += len(batch)
            if DAMAGED:
                tell_damaged(batch)
            if STOP_ASKED:  # between batches: what is written is whole entries
                raise Stopped(STOP_ASKED[0], written)
    except database_errors() as exc:
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL: the database failed while the trail was read "
                            f"({reason_of(exc)}): the export is incomplete; export again once it answers.") from None
    finally:
        store.close()
    return 0


# The trail README advises keeping (a yearly review looks back a year): a prune reaching into it asks for --yes.
KEPT_DAYS = 365


def prune(out: TextIO, before: str, now: datetime, yes: bool = False) -> int:
    from bot.runtime.database import open_store

    cutoff = entry_time(parse_age(before, now))
    kept_from = entry_time(now - timedelta(days=KEPT_DAYS))
    settings = Settings.load()
    store = open_store(settings.database_url)
    deleted = kept = 0
    STOP_ASKED.clear()
    handlers = {number: signal.signal(number, stop_asked) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        recent = store.prunable(cutoff, since=kept_from) if cutoff > kept_from and not yes else 0
        if recent:
            raise SettingsError(f"--before {before.strip()} would delete {entries(store.prunable(cutoff))} older than "
                                f"{cutoff}, {recent} of them from the last {KEPT_DAYS} days, which README advises "
                                f"keeping: nothing was deleted; run it again with --yes to delete them, or prune "
                                f"--before {KEPT_DAYS}d to keep the last year.")
        for batch_deleted, batch_kept, more in store.prune_batches(cutoff):
            deleted, kept = deleted + batch_deleted, kept + batch_kept
            if STOP_ASKED and more:  # between batches: each one before is committed whole
                raise Stopped(STOP_ASKED[0], deleted)
    except Stopped as stopped:
        print(f"backup-bot: the prune was stopped ({signal.Signals(stopped.number).name}) after deleting "
              f"{entries(deleted)} older than {cutoff}, which stay deleted; the rest are still there: prune again "
              "to delete them.", file=sys.stderr)
        return 128 + stopped.number
    except database_errors() as exc:  # the batches committed before stay deleted
        done = (f"so the prune stopped after deleting {entries(deleted)} older than {cutoff}, which stay deleted"
                if deleted else "so nothing was deleted")
        refused = refusal(getattr(exc, "orig", None) or exc)
        if refused is not None:
            raise SettingsError(f"BACKUP_BOT_DATABASE_URL: the database refuses writes ({refused}), {done}: point "
                                "it at the primary database (not a standby or a read-only one), writable by its "
                                "user, and prune again.") from None
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL: the database failed during the prune ({reason_of(exc)}), "
                            f"{done}: prune again once it answers.") from None
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        store.close()
    print(f"Deleted {entries(deleted)} older than {cutoff}.", file=out)
    if kept:
        print(f"Kept {kept} older entr{'y' if kept == 1 else 'ies'} of requests still open; they go once their "
              "requests end and are older than the cutoff.", file=out)
    return 0


def reader_gone() -> int:
    """A pipe whose reader stopped reading (`| head -1`): a normal end, silent, with the status of a process that
    SIGPIPE ended (128 + 13), as `yes | head -1` has. What Python would flush at exit goes nowhere, told nowhere."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def entries(number: int) -> str:
    return f"{number} audit entr{'y' if number == 1 else 'ies'}"


def own_file(output: str, settings: Settings) -> str | None:
    """Which of the bot's own files `output` names, by any path or link: its SQLite database, the database's
    journal and WAL, PlanetScale's shared budget beside it, the access rules, the .env file; None for any other."""
    from bot.adapters.shared_budget import budget_path
    from bot.runtime.doctor_places import sqlite_path

    url = settings.database_url
    ours = [(settings.access_file, "access rules (BACKUP_BOT_ACCESS_FILE)"), (".env", "settings file (.env)")]
    if url.startswith("sqlite"):
        database = sqlite_path(url)
        budget = budget_path(url)
        ours += [(database + end, f"database{kind} (BACKUP_BOT_DATABASE_URL)") for end, kind in
                 (("", ""), ("-wal", "'s WAL"), ("-shm", "'s WAL index"), ("-journal", "'s journal"))]
        ours += [(budget, "file of PlanetScale's shared budget (beside BACKUP_BOT_DATABASE_URL)")] if budget else []
    for path, what in ours:
        with contextlib.suppress(OSError, ValueError):  # a file not there now holds nothing to lose
            if os.path.samefile(output, path):
                return what
    return None


def main(command: str, args: dict[str, str | None], now: datetime | None = None, out: TextIO | None = None) -> int:
    moment = now or datetime.now(UTC)
    try:
        if command == "scrub":
            from bot.runtime.audit_scrub import scrub

            return scrub(out or sys.stdout)
        if command == "prune":
            return prune(out or sys.stdout, str(args["before"]), moment, yes=bool(args.get("yes")))
        output = args.get("output") or "-"
        named = "standard output" if output == "-" else output
        own = own_file(output, Settings.load()) if output != "-" else None
        if own is not None:  # opened for writing, it would be emptied before the trail is read
            raise SettingsError(f"--output {output[:200]} is the bot's own {own}: writing the export there would "
                                "destroy it; name another file.")
        try:
            if output == "-":
                data_in_utf8()  # as the file is
            out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise SettingsError(f"--output {named} cannot be written ({exc.strerror or type(exc).__name__}): name a "
                                "file in a folder you may write, or - for standard output.") from None
        STOP_ASKED.clear()
        # Into a file only: a write blocked on a pipe that a handled signal interrupts loses what it held.
        handlers = {} if out is sys.stdout else {
            number: signal.signal(number, stop_asked) for number in (signal.SIGTERM, signal.SIGINT)}
        try:
            status = export(out, str(args["format"]), args.get("since"), args.get("until"), args.get("db"),
                            args.get("actor"), moment)
            out.flush()  # a full disk shows itself at the last write, not after the export said it was done
            return status
        except Stopped as stopped:
            out.flush()
            name = signal.Signals(stopped.number).name
            print(f"backup-bot: the export was stopped ({name}) after {stopped.written} entries, each whole: "
                  f"{named} is incomplete; export again for all of it.", file=sys.stderr)
            return 128 + stopped.number
        except BrokenPipeError:
            if out is not sys.stdout:
                raise SettingsError(f"--output {named}: the export is incomplete, its reader has gone.") from None
            return reader_gone()
        except OSError as exc:  # only the writing does I/O of this kind: the database's errors are its own
            raise SettingsError(f"--output {named}: the export is incomplete, writing it failed "
                                f"({exc.strerror or type(exc).__name__}).") from None
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
            if out is not sys.stdout:
                with contextlib.suppress(OSError):  # told above; closing flushes nothing more
                    out.close()
    except UsageError as exc:
        raise SettingsError(str(exc)) from None
