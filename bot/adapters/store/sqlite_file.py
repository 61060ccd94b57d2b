"""Which SQLite file a store opened, to tell it from one deleted or put at its path since (a clean-up of old
files, a restore copied over it): the connections still open write to a file no later start reads."""

from __future__ import annotations

import os
import sqlite3
import stat


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL; None in memory or as a `file:` URI (whose path SQLite reads itself)."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if parsed.query.get("uri") == "true" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def file_identity(path: str) -> tuple[int, int] | None:
    """Which file `path` names now (device and inode); None if none."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def file_gone(path: str) -> sqlite3.OperationalError:
    """A write refused (`refusal`) on a connection whose file was deleted or replaced since it opened it: what it
    wrote would be in a file no later start reads."""
    exc = sqlite3.OperationalError(f"the database file {os.path.basename(path)} was deleted or replaced while the bot "
                                   "had it open; restart the bot once the right file is in place")
    exc.sqlite_errorname, exc.sqlite_errorcode = "SQLITE_CANTOPEN", sqlite3.SQLITE_CANTOPEN
    return exc


def not_a_file(path: str) -> str | None:
    """What `path` is when it is there as something SQLite keeps no database in (SQLite says only "unable to open" or
    "disk I/O error", and reads `/dev/null` as an empty database); None otherwise."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    return None if stat.S_ISREG(mode) else "not a regular file (a device or a pipe)"


def folder_refusal(path: str) -> str | None:
    """Why SQLite cannot open the existing file at `path` though it is there: its folder takes no new file, and WAL
    mode makes the -wal and -shm files beside the database; None when it does, or they are there already."""
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    if not os.path.isfile(path) or os.access(folder, os.W_OK | os.X_OK):
        return None
    if os.path.exists(f"{path}-wal") and os.path.exists(f"{path}-shm"):
        return None
    return f"its folder {folder} is not writable, and SQLite makes {name}-wal and {name}-shm there, beside the database"
