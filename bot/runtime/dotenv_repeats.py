"""A setting that `.env` sets on two lines to different values: python-dotenv keeps the last without a word, so
the operator who edits the first line (the one `init` wrote, say) sees no effect, or a blank line further down
silently puts the default back. And the one reader of `.env` line by line, which settings' checks share."""

from __future__ import annotations

import io
import re
from collections.abc import Collection

ASSIGNMENT = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
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
