"""Reading the files settings come from: only regular files, as UTF-8 text."""

from __future__ import annotations

import os
import stat


def regular_bytes(path: str) -> bytes:
    """A regular file's bytes (or what a link points to); OSError for anything else: a pipe would hold the start
    until something writes to it, and a device may never end."""
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(0, "it is not a regular file (a pipe or a device)")
        return handle.read()


def unreadable(dotenv_file: str) -> list[str]:
    """The .env file's problem if it cannot be read as text (python-dotenv would raise): its line and why."""
    try:
        content = regular_bytes(dotenv_file)
    except OSError as exc:
        return [f"{dotenv_file} cannot be read: {exc.strerror or type(exc).__name__}."]
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        return [f"{dotenv_file} line {line}: byte 0x{content[exc.start]:02X} is not UTF-8: save the file as UTF-8."]
    return []
