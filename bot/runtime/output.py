"""Standard output for the commands that report on it, its failures told apart from the commands' own."""

from __future__ import annotations

import codecs
import contextlib
import io
import sys
from typing import TextIO, cast


class OutputLost(Exception):
    """Standard output could not be written: a full disk, a pipe whose reader has gone."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Output:
    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as exc:
            raise OutputLost(exc.strerror or type(exc).__name__) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            raise OutputLost(exc.strerror or type(exc).__name__) from None


def standard_output() -> TextIO:
    """sys.stdout, raising OutputLost where writing it fails (print needs only write and flush); in an encoding
    other than UTF-8 (a Latin-1 or ASCII locale), a character it lacks is written as an escape, not a traceback."""
    if not utf8(sys.stdout):
        with contextlib.suppress(AttributeError, ValueError, OSError):  # a stream that is no TextIOWrapper
            sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    return cast("TextIO", _Output(sys.stdout))


def utf8(stream: TextIO | None) -> bool:
    return codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name == "utf-8"


def data_in_utf8() -> None:
    """Standard output written in UTF-8 whatever the locale: data (CSV, JSON lines) is read as UTF-8, and another
    encoding would refuse or escape its text."""
    if not utf8(sys.stdout):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stdout.reconfigure(encoding="utf-8", errors="strict")  # type: ignore[union-attr]


def standard_input() -> TextIO:
    """sys.stdin; in an encoding other than UTF-8, a byte it cannot decode is read as UTF-8 mode reads it (a lone
    surrogate, which the bot refuses in words), not a traceback. Closed (`<&-`), it is input that has ended."""
    if sys.stdin is None:
        return io.StringIO()
    if not utf8(sys.stdin):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    return sys.stdin
