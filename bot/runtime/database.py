"""The bot's database, opened and migrated, for the commands that need only it (not the Slack app's imports)."""

from __future__ import annotations

from bot.adapters.store import Store
from bot.runtime.settings import SettingsError


def open_store(url: str) -> Store:
    """The database, migrated; a SettingsError naming BACKUP_BOT_DATABASE_URL when it cannot be used."""
    store = Store(url)
    migrate(store)
    return store


def migrate(store: Store) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.adapters.migrations import ForeignRevision, SchemaAhead, SeveralRevisions

    try:
        store.migrate()
    except ForeignRevision as exc:
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL: {foreign_schema(exc.revision)}.") from None
    except SeveralRevisions as exc:
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL: {several_revisions(exc.revisions)}.") from None
    except SchemaAhead as exc:
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL: {schema_ahead(exc.at, exc.latest)}: "
                            f"{SCHEMA_AHEAD_FIX}.") from None
    except (SQLAlchemyError, ValueError) as exc:  # ValueError: a URL SQLAlchemy cannot read
        known = cannot_open(store.url, exc)
        if known is not None:
            raise SettingsError(f"BACKUP_BOT_DATABASE_URL: {known[0]}: {known[1]}.") from None
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL cannot be used ({reason_of(exc)}): check that the database "
                            "exists and is reachable.") from None


CROWDED_FIX = ("raise the connection limit of the role, the database or the server, or end the sessions that hold "
               "its connections; each of the bot's processes (serve, its workers) opens a few")
NOT_A_FILE_FIX = ("point BACKUP_BOT_DATABASE_URL at a database file (sqlite:///path/to/bot.db), or at a new file's "
                  "name in an existing folder")
FOLDER_FIX = "let the bot's user write in that folder, or move the database to a folder it may write in"


def cannot_open(url: str, exc: BaseException) -> tuple[str, str] | None:
    """Why the database that is there cannot be opened, and the fix, where the error's own words mislead: a SQLite
    folder that takes none of SQLite's files, PostgreSQL refusing a connection past a limit; None otherwise."""
    from bot.adapters.store.crowding import connections_refused
    from bot.adapters.store.sqlite_file import folder_refusal, not_a_file, sqlite_path

    path = sqlite_path(url) if url.startswith("sqlite") else None
    odd = None if path is None else not_a_file(path)
    if odd is not None:
        return f"{path} is {odd}, so the bot cannot keep its database there", NOT_A_FILE_FIX
    unwritable = None if path is None else folder_refusal(path)
    if unwritable is not None:
        return f"{unwritable}, so the bot cannot open it", FOLDER_FIX
    crowded = connections_refused(getattr(exc, "orig", None) or exc)
    return None if crowded is None else (f"PostgreSQL refuses the bot a connection ({crowded})", CROWDED_FIX)


def reason_of(exc: BaseException) -> str:
    """A database error's first line in its own words, without the SQL SQLAlchemy adds."""
    return (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0][:200]


SCHEMA_AHEAD_FIX = ("run that release, or go back as the README's 'Going back' says (the newer release's downgrade "
                    "first, or the backup taken before it)")


def schema_ahead(at: int, latest: int) -> str:
    return f"the database's schema is at version {at}, newer than this release knows ({latest}): a newer release " \
           "migrated it"


def foreign_schema(revision: str) -> str:
    """What a database another application migrates with Alembic is, and the fix; nothing of it is changed."""
    from bot.adapters import migrations

    shown = revision if len(revision) <= 40 and revision.isprintable() else f"{revision[:40]!r}…"
    return (f"the database's alembic_version table holds revision {shown}, none of this bot's (0001 to "
            f"{migrations.revision(migrations.head())}): another application migrates this database with Alembic; "
            "give the bot a database of its own")


def several_revisions(revisions: tuple[str, ...]) -> str:
    """What a database whose Alembic table holds several revisions is, and the fix; nothing of it is changed."""
    shown = ", ".join(r if len(r) <= 40 and r.isprintable() else f"{r[:40]!r}…" for r in revisions[:5])
    return (f"the database's alembic_version table holds {len(revisions)} revisions ({shown}) where the bot keeps "
            "one, so the schema's version cannot be told: a hand or another tool added rows there; keep only the "
            "row of the version the schema is at, or restore the database's last backup")
