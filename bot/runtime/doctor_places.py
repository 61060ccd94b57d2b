"""Where doctor says the database and PlanetScale's shared budget are, from BACKUP_BOT_DATABASE_URL: never its user,
password or query."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from bot.adapters.shared_budget import budget_path


def sqlite_path(url: str) -> str:
    """A SQLite URL's file: its path, or, for a URI (`sqlite:///file:/srv/bot.db?mode=ro&uri=true`), the URI's."""
    path, _, query = url.split("///", 1)[-1].partition("?")
    if path.startswith("file:") and parse_qs(query).get("uri") == ["true"]:
        return urlsplit(path).path
    return path


def database_place(url: str) -> str:
    """The database as doctor names it: a SQLite file's URL, or a server's host, port and database, without the
    user, the password or the query (libpq takes a password there too)."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        return url.split("?", 1)[0]
    try:
        parsed = make_url(url)
    except Exception:  # a URL SQLAlchemy cannot parse: nothing of it is repeated
        return "BACKUP_BOT_DATABASE_URL's database"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def budget_place(url: str) -> str:
    """Where the processes (and instances) share PlanetScale's budget; doctor neither makes nor reads it."""
    path = budget_path(url)
    if path is not None:
        return (f"PlanetScale's budget, shared by serve's processes: {path} (made on first use beside the "
                "database; nothing removes it, one row per service token)")
    if url.startswith("postgresql"):
        return "PlanetScale's budget, shared by every instance: the planetscale_budget table of this database"
    return "PlanetScale's budget: kept in the process (a database in memory is one process's)"
