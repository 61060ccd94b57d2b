"""The schema's migrations, run by Alembic: one revision per step in versions/, numbered 0001, 0002, … .

Each is run on a connection the caller has opened, inside its transaction, so the lock the caller took there
(PostgreSQL's advisory lock; SQLite's write lock, taken at BEGIN) covers the whole upgrade and two instances
starting at once migrate once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

HERE = Path(__file__).parent


def config(conn: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> int:
    """The newest revision's number."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return number(ScriptDirectory.from_config(cfg).get_current_head())


class SchemaAhead(Exception):
    """The database's schema is at a revision newer than this release's migrations reach: a newer release migrated
    it, and this one (rolled back to) does not know what it holds."""

    def __init__(self, at: int, latest: int):
        super().__init__(f"schema at version {at}, newer than this release's {latest}")
        self.at = at
        self.latest = latest


class ForeignRevision(ValueError):
    """The database's Alembic revision is none of this bot's (numbered): another application migrates the database
    with Alembic, and its tables and this bot's would share one version."""

    def __init__(self, revision: str):
        super().__init__(f"revision {revision!r} is not one of this bot's")
        self.revision = revision


class SeveralRevisions(ValueError):
    """The database's Alembic table holds more than one revision, where the bot keeps one (a hand or another tool
    added the others): which one the schema is at cannot be told."""

    def __init__(self, revisions: tuple[str, ...]):
        super().__init__(f"revisions {', '.join(revisions)}")
        self.revisions = revisions


def number(revision: str | None) -> int:
    if revision and not (revision.isascii() and revision.isdigit()):
        raise ForeignRevision(revision)
    return int(revision) if revision else 0


def revision(version: int) -> str:
    return f"{version:04d}"


def current(conn: Connection) -> int:
    """The revision the database is at; for a database migrated by the numbered runner this replaced (its
    `schema_version` table) and not yet adopted, the version that table holds; 0 for one never migrated."""
    import sqlalchemy as sa
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    if len(heads) > 1:
        raise SeveralRevisions(tuple(heads))
    at = heads[0] if heads else None
    if at is not None:
        return number(at)
    if sa.inspect(conn).has_table("schema_version"):
        return int(conn.exec_driver_sql("SELECT max(version) FROM schema_version").scalar() or 0)
    return 0


def upgrade(conn: Connection, to: str = "head") -> int:
    """Bring the schema to `to` (the newest by default) on `conn`, inside its transaction; return the version.

    A database the numbered runner migrated (a `schema_version` table, no Alembic revision) is stamped at the
    version it reached and upgraded from there: nothing it holds is made again. Its `schema_version` table is
    left as it was, for a release before this one, should it be rolled back to."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    cfg = config(conn)
    if MigrationContext.configure(conn).get_current_revision() is None:
        adopted = current(conn)
        if adopted:
            command.stamp(cfg, revision(adopted))
    command.upgrade(cfg, to)
    return current(conn)


def stamp(conn: Connection, version: int) -> None:
    """Record the database as at `version` without running a step (0: at none), inside `conn`'s transaction."""
    from alembic import command

    command.stamp(config(conn), revision(version) if version else "base")
