"""Standard output for the commands that report on it, its failures told apart from the commands' own."""

from __future__ import annotations

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
    """sys.stdout, raising OutputLost where writing it fails (print needs only write and flush)."""
    return cast("TextIO", _Output(sys.stdout))
