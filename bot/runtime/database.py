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

    try:
        store.migrate()
    except (SQLAlchemyError, ValueError) as exc:  # ValueError: a URL SQLAlchemy cannot read
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL cannot be used ({reason}): check that the database "
                            "exists and is reachable.") from None
