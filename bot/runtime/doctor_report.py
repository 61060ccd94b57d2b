"""What doctor says, line by line: each check's outcome, and how many problems it found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Report:
    out: TextIO
    problems: int = 0
    warnings: int = 0
    lines: list[str] = field(default_factory=list)

    def ok(self, what: str) -> None:
        self._say(f"  ok    {what}")

    def problem(self, what: str, fix: str) -> None:
        self.problems += 1
        self._say(f"  FAIL  {what}\n        fix: {fix}")

    def warning(self, what: str) -> None:
        """Likely a mistake, yet maybe meant (a name for a database to come): said, not counted a problem."""
        self.warnings += 1
        self._say(f"  WARN  {what}")

    def note(self, what: str) -> None:
        self._say(f"  note  {what}")

    def section(self, title: str) -> None:
        self._say(title)

    def _say(self, line: str) -> None:
        self.lines.append(line)
        print(line, file=self.out, flush=True)
