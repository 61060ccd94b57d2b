"""A setting that `.env` sets on two lines to different values: python-dotenv keeps the last without a word, so
the operator who edits the first line (the one `init` wrote, say) sees no effect, or a blank line further down
silently puts the default back. And the one reader of `.env` line by line, which settings' checks share."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Collection

ASSIGNMENT = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SKIPPED_AT = re.compile(r"could not parse statement starting at line (\d+)")
NAME_ALONE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)(?:\s|$)(?!\s*=)")


def assignments(dotenv_file: str, known: Collection[str]) -> list[tuple[int, str, str]]:
    """Each line of `dotenv_file` that sets a name in `known`, as written: its number, the name, the line."""
    with open(dotenv_file, encoding="utf-8") as text:
        return [(number, match.group(1), line) for number, line in enumerate(text, start=1)
                if (match := ASSIGNMENT.match(line)) and match.group(1) in known]


def repeated(dotenv_file: str, known: Collection[str]) -> list[str]:
    """One line per setting in `known` set to different values on several lines of `dotenv_file`."""
    from dotenv import dotenv_values

    written: dict[str, list[tuple[int, str]]] = {}
    for number, name, line in assignments(dotenv_file, known):
        written.setdefault(name, []).append((number, line))
    # Only a name on several lines is read line by line: a value quoted over several lines, read so, would have
    # python-dotenv warn of a statement it cannot parse "at line 1".
    lines = {name: [(number, dotenv_values(stream=io.StringIO(line)).get(name)) for number, line in found]
             for name, found in written.items() if len(found) > 1}
    return [f"{dotenv_file} lines {', '.join(str(n) for n, _ in found[:-1])} and {found[-1][0]} set {name} to "
            f"different values: only the last (line {found[-1][0]}) is in force; keep one of them."
            for name, found in lines.items() if len({value for _, value in found}) > 1]


def without_equals(dotenv_file: str, known: Collection[str]) -> list[tuple[int, str]]:
    """Each line of `dotenv_file` naming a setting in `known` with no `=` after it (`SLACK_BOT_TOKEN` alone):
    python-dotenv reads it as set to nothing, or cannot parse it. Its number and the name; never the rest, which
    may be a secret."""
    with open(dotenv_file, encoding="utf-8") as text:
        return [(number, match.group(1)) for number, line in enumerate(text, start=1)
                if (match := NAME_ALONE.match(line)) and match.group(1) in known]


class _Skipped(logging.Handler):
    """The lines python-dotenv says it skipped, from its own warning (which names the line, never its text)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        if found := SKIPPED_AT.search(record.getMessage()):
            self.lines.append(int(found.group(1)))


def unread_lines(dotenv_file: str, told: Collection[int]) -> list[str]:
    """Each line of `dotenv_file` beyond those `told` already that python-dotenv skips (an unclosed quote, a space
    in a name) or reads as a name no environment variable has (`NAME:value`, `NAME-WITH-DASHES=…`): whatever it
    meant to set is left at its default. Its number only: its text may be a secret."""
    from dotenv import dotenv_values

    skipped, dotenv_log = _Skipped(), logging.getLogger("dotenv")
    dotenv_log.addHandler(skipped)
    before, dotenv_log.propagate = dotenv_log.propagate, False  # told here, in words that name the line
    try:
        names = [name for name in dotenv_values(dotenv_file) if not ENV_NAME.fullmatch(name)]
    finally:
        dotenv_log.removeHandler(skipped)
        dotenv_log.propagate = before
    with open(dotenv_file, encoding="utf-8") as text:
        misnamed = [number for number, line in enumerate(text, start=1)
                    if any(line.lstrip().removeprefix("export").lstrip().startswith(name) for name in names)]
    return [f"{dotenv_file} line {number} cannot be read as NAME=value (an unclosed quote, a space or a sign "
            "other than `_` in the name, or no `=`?), so nothing on it is set: write NAME=value, and if the value "
            "is quoted, one quote of the same kind at each end."
            for number in sorted({*skipped.lines, *misnamed} - set(told))]
