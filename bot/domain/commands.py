"""The typed commands `/backup-policy` is parsed into, the database they name, and the error that answers a
command typed wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.policy import PolicyUpdate

GLOB_CHARACTERS = "*?"


def is_glob(text: str) -> bool:
    """Whether a database or policy name as typed is a glob, naming many."""
    return any(ch in text for ch in GLOB_CHARACTERS)

# Always used with fullmatch: `$` would also accept a trailing newline.
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Slack's user and channel IDs are letters and digits (`U0ALICE001`, `C0DBAOPS01`); the store keeps 32 characters.
SLACK_ID = re.compile(r"[A-Za-z0-9]{1,32}")


class CommandError(Exception):
    """A command that cannot be carried out as typed; `str()` is the answer for the caller."""


@dataclass(frozen=True)
class DatabaseRef:
    organization: str
    database: str

    def __str__(self) -> str:
        return f"{self.organization}/{self.database}"


def is_slug(text: str) -> bool:
    return SLUG.fullmatch(text) is not None


def is_slack_id(text: str) -> bool:
    return SLACK_ID.fullmatch(text) is not None


def database_ref(organization: str, database: str) -> DatabaseRef:
    """Names from outside, already checked with `is_slug`. PlanetScale's names are lowercase, so `App-DB` is
    `app-db`: the access rules judge the very name the bot then sends."""
    return DatabaseRef(organization.lower(), database.lower())


@dataclass(frozen=True)
class HelpCommand:
    """Usage, limited to what the caller may do; words after `help` are not topics and are ignored."""


@dataclass(frozen=True)
class ListCommand:
    db: DatabaseRef


@dataclass(frozen=True)
class ShowCommand:
    db: DatabaseRef
    policy: str


@dataclass(frozen=True)
class EditCommand:
    db: DatabaseRef
    policy: str


@dataclass(frozen=True)
class HistoryCommand:
    db: DatabaseRef
    policy: str | None = None


@dataclass(frozen=True)
class PendingCommand:
    pass


@dataclass(frozen=True)
class StatusCommand:
    db: DatabaseRef


@dataclass(frozen=True)
class UpdateCommand:
    db: DatabaseRef
    policy: str
    update: PolicyUpdate
    reason: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class ExportCommand:
    """`db.database` may be a glob (`billing-*`) within the one organization."""

    db: DatabaseRef
    format: str = "terraform"


@dataclass(frozen=True)
class CreateCommand:
    """A new policy: `values` is the whole POST body (parsed as an update's keys); None opens the form."""

    db: DatabaseRef
    values: PolicyUpdate | None
    reason: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class DeleteCommand:
    db: DatabaseRef
    policy: str
    reason: str | None = None
    dry_run: bool = False


Command = (
    HelpCommand | ListCommand | ShowCommand | EditCommand | HistoryCommand | PendingCommand | UpdateCommand
    | StatusCommand | ExportCommand | CreateCommand | DeleteCommand
)

SUBCOMMANDS = ("help", "list", "show", "update", "edit", "history", "pending", "status", "export", "create",
               "delete")
