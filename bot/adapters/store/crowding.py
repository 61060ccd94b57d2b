"""PostgreSQL refusing the bot a connection: too many open for the role, the database or the server."""

from __future__ import annotations

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
