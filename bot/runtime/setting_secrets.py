"""A secret's value as the settings give it: one a client can send, or a ValueError naming what is wrong with it,
never the value."""

from __future__ import annotations


def as_written(value: str, prefix: str = "", hint: str = "") -> str:
    """`value` when it can be a token or secret; `prefix` is what such a token starts with, `hint` where it is
    shown."""
    if any(ch in "\"'" for ch in value):  # no token or secret holds one; `docker run --env-file` keeps them
        raise ValueError("is malformed: it is in quotes, which `docker run --env-file` keeps as part of the value: "
                         "write it without them")
    if any(ch.isspace() for ch in value):
        raise ValueError("is malformed: it holds a space (a comment after the value? put comments on lines of "
                         "their own)")
    if not (value.isascii() and value.isprintable()):
        # Tokens go in HTTP headers and the signing secret is an HMAC key: ASCII only, else the first request fails.
        raise ValueError("is malformed: it holds a character that is not plain ASCII (a pasted typographic dash "
                         "or quote?): copy it again from where it is shown")
    if prefix and not value.startswith(prefix):
        raise ValueError(f"is malformed: {hint}")
    return value
