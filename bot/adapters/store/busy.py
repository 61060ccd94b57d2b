"""How the database says it could not answer now, though it may a moment later."""

from __future__ import annotations

# How PostgreSQL says it could not do a statement now, though it may a moment later, in words for a person (its own
# text may name the server's host).
POSTGRES_BUSY = {
    "55P03": "a row it needs is locked by another session",
    "57014": "a statement ran past its time limit",
    "40P01": "a deadlock with another session",
    "40001": "a conflict with another session's write",
    "53300": "every connection it allows is taken",
    "57P01": "its server ended the connection: a restart, or an administrator ended the session",
    "57P03": "its server is starting up or shutting down",
    "25P03": "this instance was held up inside a transaction past the database's limit",
}
POOL_BUSY = "every connection of the bot's own pool is in use"
# How PostgreSQL words an ended session, for psycopg releases that give no SQLSTATE with it (3.1: "consuming input
# failed: terminating connection due to ...").
ENDED_SESSION_WORDS = {
    "terminating connection due to idle-in-transaction timeout": "25P03",
    "terminating connection due to administrator command": "57P01",
}


def busy(exc: BaseException) -> str | None:
    """Why a database error (or the wait for a connection of the bot's pool) says the database could not answer now,
    though it may a moment later; None for any other error."""
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.TimeoutError):
        return POOL_BUSY
    error = getattr(exc, "orig", None) or exc
    code = getattr(error, "sqlstate", None)
    if code is None:
        code = next((c for words, c in ENDED_SESSION_WORDS.items() if words in str(error)), None)
    return POSTGRES_BUSY.get(str(code))
