"""`backup-bot audit export` and `backup-bot audit prune`: the bot's own trail, filtered, streamed, pruned."""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import TextIO

from bot.domain.audit import AuditEvent, csv_cell
from bot.runtime.settings import Settings, SettingsError

AGE = re.compile(r"([0-9]{1,6})\s*(h|d|w|y)")
AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "y": timedelta(days=365)}
ORG_DB = re.compile(r"[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*")
# Entries written before the domain named people plainly hold Slack's mentions: exported as the newer ones read
# (bot/domain/naming.py), so that people and machines meet one form.
OLD_MENTION = re.compile(r"<(@|!subteam\^|#)([A-Z0-9]+)(?:\|[^<>]*)?>")
OLD_SIGIL = {"@": "@", "!subteam^": "@", "#": "#"}


def plain(value: object) -> object:
    if isinstance(value, str) and "<" in value:
        return OLD_MENTION.sub(lambda m: OLD_SIGIL[m.group(1)] + m.group(2), value)
    return value


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
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"`{text[:40]}` is not a time: write a date (2026-01-31), a UTC time "
                         "(2026-01-31T12:00:00Z) or an age back from now (30d, 12h)") from None
    return entry_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def export(out: TextIO, fmt: str, since: str | None, until: str | None, db: str | None, actor: str | None,
           now: datetime) -> int:
    from bot.runtime.app import open_store

    organization = database = None
    if db is not None:
        if not ORG_DB.fullmatch(db.strip().lower()):
            raise UsageError(f"--db `{db[:60]}`: write the organization and the database, e.g. acme/app-db")
        organization, database = db.strip().lower().split("/")
    start = parse_when(since, now) if since else None
    end = parse_when(until, now) if until else None
    settings = Settings.load()
    store = open_store(settings.database_url)
    try:
        names = [f.name for f in fields(AuditEvent)]
        writer = csv.DictWriter(out, fieldnames=names) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        for found in store.event_values(since=start, until=end, organization=organization, database=database,
                                        actor=actor.strip() if actor else None):
            row = {k: plain(v) for k, v in found.items()}
            if writer:
                writer.writerow({k: csv_cell(v) for k, v in row.items()})
            else:  # json.dumps writes every control character as an escape (ensure_ascii)
                out.write(json.dumps(row, sort_keys=True) + "\n")
    finally:
        store.close()
    return 0


def prune(out: TextIO, before: str, now: datetime) -> int:
    from bot.runtime.app import open_store

    cutoff = entry_time(parse_age(before, now))
    settings = Settings.load()
    store = open_store(settings.database_url)
    try:
        deleted, kept = store.prune_events(cutoff)
    finally:
        store.close()
    print(f"Deleted {deleted} audit entr{'y' if deleted == 1 else 'ies'} older than {cutoff}.", file=out)
    if kept:
        print(f"Kept {kept} older entr{'y' if kept == 1 else 'ies'} of requests still open; they go once their "
              "requests end and are older than the cutoff.", file=out)
    return 0


def main(command: str, args: dict[str, str | None], now: datetime | None = None) -> int:
    moment = now or datetime.now(UTC)
    try:
        if command == "prune":
            return prune(sys.stdout, str(args["before"]), moment)
        output = args.get("output") or "-"
        out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
        try:
            return export(out, str(args["format"]), args.get("since"), args.get("until"), args.get("db"),
                          args.get("actor"), moment)
        finally:
            if out is not sys.stdout:
                out.close()
    except UsageError as exc:
        raise SettingsError(str(exc)) from None
