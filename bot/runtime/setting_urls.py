"""The URLs among the settings: an API's base, and a database URL's host and port, checked as clients read them."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx


def readable_host(url: str) -> bool:
    """Whether a database URL's host and port read as SQLAlchemy reads them (its own parser: a password holds any
    `?` before its `@`): its port a number (else SQLAlchemy raises a ValueError on first use, and `serve` would run
    on with no database)."""
    from sqlalchemy.engine import make_url  # here: importing SQLAlchemy with the app would slow every start
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        port = parsed.port
    except (ValueError, ArgumentError):  # a port not a number, of thousands of digits; a URL it cannot read
        return False
    # A password ends at its first `@`: the rest of it would be read as the host's, and shown wherever the host is.
    return "@" not in (parsed.host or "") and (port is None or 0 < port < 65536)


def in_memory(url: str) -> bool:
    """Whether a SQLite URL names a database in memory: one per connection (or per process, shared by URI), which
    the bot's other threads and its workers never see, and a restart empties."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ValueError, ArgumentError):
        return False
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return True
    return parsed.query.get("uri") == "true" and (parsed.query.get("mode") == "memory"
                                                  or database.startswith("file::memory:"))


def api_url(value: str, slash: bool = False) -> str:
    """An API's base URL as the HTTP clients will send to it; ValueError naming the fix, never the value."""
    try:  # urlparse and its port raise ValueError for an unclosed IPv6 bracket and a port out of range
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.port == 0:
            raise ValueError
        # httpx refuses (as the clients are built) a host that is no IDNA name and, in its newer releases, a
        # control character: refused here whichever release reads it.
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise ValueError
        # httpx takes an empty label (`api..`), one past 63 characters, or a malformed `xn--` one, and raises only
        # as it sends: the host as it is read (IDNA-decoded) and looked up (IDNA-encoded).
        httpx.URL(value).host.encode("idna")
    except (ValueError, httpx.InvalidURL):  # never the value: it may be a token pasted in the wrong variable
        raise ValueError("is malformed: it must be an http(s) URL such as https://host/path.") from None
    if "@" in parsed.netloc:  # the bot signs in with its tokens; a password here is shown wherever the URL is
        raise ValueError("is malformed: it holds a user name or password (`user:password@`): remove it; the bot "
                         "signs in with its tokens.")
    if "?" in value or "#" in value:  # a key in the query is shown wherever the URL is; each call's path follows
        raise ValueError("is malformed: it holds a query string or a fragment (`?…`, `#…`): remove it; the bot "
                         "signs in with its tokens, and a base URL takes the API's paths after it.")
    if slash and not value.endswith("/"):
        value += "/"
    return value
