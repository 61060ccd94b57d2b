"""The URLs among the settings: an API's base, and a database URL's host and port, checked as clients read them."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx


def readable_host(url: str) -> bool:
    """Whether a database URL's host and port read as SQLAlchemy reads them: its port a number (else SQLAlchemy
    raises a ValueError on first use, and `serve` would run on with no database)."""
    where = url.split("://", 1)[1].split("?", 1)[0].rsplit("@", 1)[-1].split("/", 1)[0]
    if where.startswith("["):
        host, bracket, port = where[1:].partition("]")
        if not (host and bracket) or (port and not port.startswith(":")):
            return False
        port = port[1:]
    else:
        _, colon, port = where.partition(":")
        if colon and not port:
            return False
    return not port or (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536)


def api_url(value: str, slash: bool = False) -> str:
    """An API's base URL as the HTTP clients will send to it; ValueError naming the fix, never the value."""
    try:  # urlparse and its port raise ValueError for an unclosed IPv6 bracket and a port out of range
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.port == 0:
            raise ValueError
        # httpx refuses (as the clients are built) a host that is no IDNA name and a control character.
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL):  # never the value: it may be a token pasted in the wrong variable
        raise ValueError("is malformed: it must be an http(s) URL such as https://host/path.") from None
    if "@" in parsed.netloc:  # the bot signs in with its tokens; a password here is shown wherever the URL is
        raise ValueError("is malformed: it holds a user name or password (`user:password@`): remove it; the bot "
                         "signs in with its tokens.")
    if slash and not value.endswith("/"):
        value += "/"
    return value
