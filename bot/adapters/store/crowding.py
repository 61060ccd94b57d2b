"""PostgreSQL refusing the bot a connection: too many open for the role, the database or the server; and how
many one process of the bot holds at most (README, "Several instances", sums them for `max_connections`)."""

from __future__ import annotations

# The store's pool (SQLAlchemy's pool_size, max_overflow): every thread's reads and writes (the work after the acks,
# the watch, the sweep, the keeper's take-over, the shared budget's reservations, the database's clock).
STORE_POOL = (5, 10)
# The inbox writer's pool (PostgreSQL): its one writing thread, which keeps its connection between writes, and the
# leases' two renewals (the keeper's step and its own thread); one more for the schema check at start.
WRITER_POOL = (3, 1)

# How PostgreSQL refuses a new connection past a role's, a database's or the server's limit (SQLSTATE 53300): libpq
# reports it while connecting, where psycopg's error carries no SQLSTATE, so its server's words are matched.
CONNECTIONS_REFUSED = ("too many connections", "remaining connection slots are reserved", "too many clients")


def connections_refused(exc: BaseException) -> str | None:
    """PostgreSQL's reason for refusing a new connection (SQLSTATE 53300), in its own words; None for any other."""
    if getattr(exc, "sqlstate", None) != "53300" and not any(words in str(exc) for words in CONNECTIONS_REFUSED):
        return None
    text = str(exc)
    return text[text.find("FATAL:"):].split("\n")[0].removeprefix("FATAL:").strip()[:200] if "FATAL:" in text \
        else (text.splitlines() or [type(exc).__name__])[0][:200]
