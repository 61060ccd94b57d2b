"""The command line read plainly: a value starting with `-` given to an option that takes one (`--since -1d`) is
that option's value, checked and told by the command as any other, and argparse's errors are said in one line with
what to do, never its usage block."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

# Options whose value may start with `-` (an age, a name): the command tells what is wrong with it.
VALUED = frozenset({"--since", "--until", "--before", "--db", "--actor", "--output", "-o", "--port", "--health-port",
                    "--slack-port", "--host", "--health-host"})
# The other long options: an abbreviation (argparse takes `--sin` for `--since`) is of a VALUED option only when it
# begins no other.
UNVALUED = frozenset({"--help", "--version", "--format", "--demo", "--yes"})
# An option a subcommand has not that another has, and what is meant there instead.
ELSEWHERE = {("export", "--before"): "audit export has no --before: the entries before a time are --until (e.g. "
                                     "--until 30d); --before is audit prune's"}


def port_number(text: str) -> int:
    """A port option, 1–65535 as `$PORT` is: the event loop folds a number past 65535 into another port, and 0
    would be one the system picks, neither the port asked."""
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"`{text[:10]}` is not a port number (1–65535)")
    return int(text)


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line: what is wrong, and where the options are listed."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; `{self.prog} --help` lists what it takes.\n")


def joined(argv: Sequence[str]) -> list[str]:
    """`argv` with each value that starts with a single `-` after an option of VALUED (or its abbreviation) joined to
    it (`--since=-1d`), as argparse would otherwise read it as an option and answer "expected one argument"."""
    result: list[str] = []
    after_valued = False
    for token in argv:
        if after_valued and token.startswith("-") and not token.startswith("--") and token not in ("-", "-h", "-o"):
            result[-1] = f"{result[-1]}={token}"
            after_valued = False
            continue
        result.append(token)
        after_valued = token in VALUED or valued_abbreviation(token)
    return result


def valued_abbreviation(token: str) -> bool:
    """Whether `token` abbreviates long options of VALUED alone (argparse tells one that is ambiguous)."""
    if not token.startswith("--") or "=" in token or len(token) < 3:
        return False
    begun = [option for option in VALUED | UNVALUED if option.startswith(token)]
    return bool(begun) and all(option in VALUED for option in begun)


def misplaced(argv: Sequence[str]) -> str | None:
    """Words for an option given to a subcommand that has it not, when another has it."""
    words = list(argv)
    for (command, option), said in ELSEWHERE.items():
        if words[:2] == ["audit", command] and any(w == option or w.startswith(f"{option}=") for w in words[2:]):
            return said
    return None


def tell_misplaced(argv: Sequence[str]) -> None:
    """Exit 2 with words for an option the subcommand has not, when another has it."""
    said = misplaced(argv)
    if said is not None:
        print(f"backup-bot: {said}.", file=sys.stderr)
        raise SystemExit(2)
