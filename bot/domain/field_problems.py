"""pydantic's validation errors as facts: where each is and what it says, in the model's own words."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

# pydantic puts this before the text of a ValueError a validator raises; the text alone is the bot's sentence.
VALUE_ERROR_PREFIX = "Value error, "


@dataclass(frozen=True)
class FieldProblem:
    location: tuple[str | int, ...]
    message: str
    kind: str  # pydantic's error type, e.g. "value_error", "string_too_long"

    @property
    def field(self) -> str:
        """The top-level field at fault; empty when the error is about the whole value."""
        return str(self.location[0]) if self.location else ""

    @property
    def path(self) -> str:
        """The full dotted location, e.g. `schedule.0`; empty when the error is about the whole value."""
        return ".".join(map(str, self.location))


def field_problems(exc: ValidationError) -> list[FieldProblem]:
    """Every error of `exc`, without the value that failed (it may be a secret or unprintable)."""
    return [FieldProblem(tuple(error["loc"]), str(error["msg"]).removeprefix(VALUE_ERROR_PREFIX), error["type"])
            for error in exc.errors(include_input=False, include_url=False)]
