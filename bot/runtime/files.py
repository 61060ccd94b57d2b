"""Reading the files settings come from: only regular files, as UTF-8 text."""

from __future__ import annotations

import os
import stat

# A .env or a secret file holds a few kilobytes: one of megabytes is a log or a dump named by mistake, which
# python-dotenv would read whole and parse line by line, several times over, for minutes.
MOST_BYTES = 2**20


class TooLarge(OSError):
    """A settings file over MOST_BYTES, left unread."""

    def __init__(self) -> None:
        super().__init__(0, f"it is over {MOST_BYTES >> 20} MB, far more than any settings or secret")


def regular_bytes(path: str) -> bytes:
    """A regular file's bytes (or what a link points to), at most MOST_BYTES; OSError for anything else: a pipe
    would hold the start until something writes to it, and a device may never end."""
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise OSError(0, "it is not a regular file (a pipe or a device)")
        content = b"" if status.st_size > MOST_BYTES else handle.read(MOST_BYTES + 1)
        if status.st_size > MOST_BYTES or len(content) > MOST_BYTES:  # or grown since
            raise TooLarge()
        return content


def unreadable(dotenv_file: str) -> list[str]:
    """The .env file's problem if it cannot be read as text (python-dotenv would raise): its line and why."""
    try:
        content = regular_bytes(dotenv_file)
    except TooLarge:
        return [f"{dotenv_file} is over {MOST_BYTES >> 20} MB, far more than any settings or secret: is it the right "
                "file? (a .env holds NAME=value lines)"]
    except OSError as exc:
        if os.path.islink(dotenv_file) and not os.path.exists(dotenv_file):
            return [f"{dotenv_file} is a link to nothing it can read ({exc.strerror or type(exc).__name__}): point it "
                    "at the settings file, or remove it."]
        return [f"{dotenv_file} cannot be read: {exc.strerror or type(exc).__name__}."]
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        return [f"{dotenv_file} line {line}: byte 0x{content[exc.start]:02X} is not UTF-8: save the file as UTF-8."]
    return []


def current_folder_gone() -> bool:
    """Whether the process's current folder was deleted since it was entered (relative paths then find nothing)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False
