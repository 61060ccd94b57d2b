"""The sweep's reads of the rows due for a step, past the rows another session holds."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.engine import Connection

    from bot.adapters.store.connection import Connected


def skipping_held(store: Connected, query: Select[Any]) -> tuple[Select[Any], AbstractContextManager[Connection]]:
    """`query` read on PostgreSQL without the rows another session holds as the step's write would wait on (an
    operator's `SELECT ... FOR UPDATE` left open, an instance frozen in its transaction): locked as an UPDATE of
    theirs locks them (`FOR NO KEY UPDATE`) with `SKIP LOCKED`, in a transaction that gives them back as the read
    ends. A held row is left for the next pass instead of holding the pass for the lock timeout. On SQLite, whose
    lock is the whole file's, a plain read."""
    if store.url.startswith("sqlite"):
        return query, store.reader.connect()
    return query.with_for_update(skip_locked=True, key_share=True), store.engine.begin()
