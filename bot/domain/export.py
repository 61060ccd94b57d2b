"""`export`: backup policies as code. Terraform resources of the type the database's kind asks for
(`planetscale_vitess_backup_policy`, `planetscale_postgres_backup_policy`) with `import` blocks (Terraform 1.5+),
written so that `terraform plan` after the import shows no change; or the policies as JSON.

Reading is per database: one that PlanetScale fails for is reported and the others are still exported. What the
caller may see is decided by the caller's `may_see` and `visible_targets`, the same questions `list` asks.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.access import AccessControl
from bot.domain.commands import DatabaseRef, is_glob
from bot.domain.group_directory import DirectoryError
from bot.domain.policy import BackupPolicy
from bot.domain.ports import PartlyUnreadable, PlanetScaleError

# A glob covers at most this many databases (the first by name); the rest are named, to be exported on their own.
MAX_DATABASES = 20


class ExportFormat(StrEnum):
    TERRAFORM = "terraform"
    JSON = "json"


class DatabaseKind(StrEnum):
    """`kind` of `GET /organizations/{org}/databases/{db}`."""

    MYSQL = "mysql"
    POSTGRESQL = "postgresql"


RESOURCE_TYPES: dict[str, str] = {
    DatabaseKind.MYSQL: "planetscale_vitess_backup_policy",
    DatabaseKind.POSTGRESQL: "planetscale_postgres_backup_policy",
}

# The provider's arguments besides organization and database, in its order; `id` and `display_name` are
# read-only there, `required` and the timestamps are not in its schema.
TERRAFORM_ARGUMENTS = ("name", "target", "retention_value", "retention_unit", "frequency_value", "frequency_unit",
                       "schedule_time", "schedule_day", "schedule_week")


class ExportSource(Protocol):
    def list_databases(self, organization: str) -> list[str]: ...

    def database_kind(self, organization: str, database: str) -> str: ...

    def list_policies(self, organization: str, database: str) -> list[BackupPolicy]: ...


@dataclass(frozen=True)
class ExportedDatabase:
    db: DatabaseRef
    kind: str
    policies: tuple[BackupPolicy, ...]

    @property
    def resource_type(self) -> str | None:
        return RESOURCE_TYPES.get(self.kind)


@dataclass(frozen=True)
class FailedDatabase:
    db: DatabaseRef
    message: str
    error: PlanetScaleError


@dataclass
class Export:
    """What was read, and every database or policy left out with the reason."""

    asked: DatabaseRef
    matched: int = 0  # databases the name or glob matched, visible or not
    hidden_databases: int = 0  # matched, but the caller may not see them here
    databases: list[ExportedDatabase] = field(default_factory=list)
    failed: list[FailedDatabase] = field(default_factory=list)
    over_cap: list[DatabaseRef] = field(default_factory=list)  # visible, beyond MAX_DATABASES
    unread: list[DatabaseRef] = field(default_factory=list)  # visible, not started within the time given
    # Per database, the policies PlanetScale listed in a shape this bot cannot read (counted, never named: their
    # target, which the rules may hide, is unknown), and why.
    unreadable: list[tuple[DatabaseRef, int, str]] = field(default_factory=list)

    @property
    def unknown_kinds(self) -> list[ExportedDatabase]:
        return [d for d in self.databases if d.resource_type is None]

    @property
    def policy_count(self) -> int:
        return sum(len(d.policies) for d in self.databases)


def matching_databases(names: Iterable[str], organization: str, pattern: str) -> list[DatabaseRef]:
    """The organization's databases the glob matches, by name (PlanetScale's names are lowercase)."""
    found = sorted({n.lower() for n in names if fnmatch.fnmatchcase(n.lower(), pattern)})
    return [DatabaseRef(organization, n) for n in found]


def organization_named(access: AccessControl, user: str, organization: str, channel: str) -> bool:
    """Whether any rule for the organization names the user in this channel: before PlanetScale is asked to
    list its databases for a glob."""
    found, unchecked = access.capabilities_checked(user, channel)
    if any(any(fnmatch.fnmatchcase(organization, p) for p in c.rule.organizations) for c in found):
        return True
    if unchecked is not None:  # a rule it could not check may name them: neither yes nor no
        raise DirectoryError(unchecked)
    return False


def collect(source: ExportSource, asked: DatabaseRef, may_see: Callable[[DatabaseRef], bool],
            visible_targets: Callable[[DatabaseRef], Collection[str]], within: float | None = None,
            clock: Callable[[], float] = time.monotonic) -> Export:
    """Read each database `asked` names that the caller may see. A glob's listing failing raises
    PlanetScaleError (nothing to export); a database failing is kept in `failed` and the rest go on. No
    database is started more than `within` seconds after the first: a slow PlanetScale leaves the rest in
    `unread`, so that the caller is answered in time."""
    started = clock()
    candidates = (matching_databases(source.list_databases(asked.organization), asked.organization, asked.database)
                  if is_glob(asked.database) else [asked])
    result = Export(asked, matched=len(candidates))
    seen = [db for db in candidates if may_see(db)]
    result.hidden_databases = len(candidates) - len(seen)
    result.over_cap = seen[MAX_DATABASES:]
    for index, db in enumerate(seen[:MAX_DATABASES]):
        if within is not None and clock() - started > within:
            result.unread = seen[index:MAX_DATABASES]
            break
        try:
            kind = source.database_kind(db.organization, db.database)
            try:
                policies = source.list_policies(db.organization, db.database)
            except PartlyUnreadable as exc:  # one odd policy hides no other, as in `list`
                policies = list(exc.readable)
                result.unreadable.append((db, len(exc.unreadable), exc.user_message))
        except PlanetScaleError as exc:
            result.failed.append(FailedDatabase(db, exc.user_message, exc))
            continue
        visible = visible_targets(db)
        shown = tuple(p for p in policies if p.target in visible)
        result.databases.append(ExportedDatabase(db, kind, shown))
    return result


# --- HCL ----------------------------------------------------------------------------------------------

LABEL_UNSAFE = re.compile(r"[^a-z0-9]+")
SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def hcl_string(text: str) -> str:
    """`text` as an HCL quoted string whose value is exactly `text`: `\\` and `"` escaped, line breaks and every
    character that is not printable (controls, format characters such as bidi overrides, separators) as
    `\\uNNNN`/`\\UNNNNNNNN`, and so the `$` of `${` and the `%` of `%{`, so that nothing is interpolated, and
    the backtick, so that no name can close the code block the file is shown in."""
    out = []
    escaped = True  # a combining mark at the start, or after an escape, is escaped too: it would join the escape
    for i, ch in enumerate(text):
        simple = SIMPLE_ESCAPES.get(ch)
        following = text[i + 1:i + 2]
        if simple is not None:
            out.append(simple)
            escaped = True
        elif (ch == "`" or not ch.isprintable() or (escaped and unicodedata.category(ch).startswith("M"))
              or (ch in "$%" and following == "{")):
            # `${` as `\u0024{` (and `%{` as `\u0025{`) is a literal in HCL, as `$${` is, and unlike `$${` it
            # never depends on what follows: python-hcl2 reads `$${` only when a `}` closes it.
            code = ord(ch)
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
            escaped = True
        else:
            out.append(ch)
            escaped = False
    return '"' + "".join(out) + '"'


def terraform_keeps(text: str) -> bool:
    """Whether Terraform holds `text` as it is: its strings are UTF-8 in Unicode NFC, so a name in another form
    (or with a lone surrogate) would read differently and `plan` would show it renamed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return unicodedata.is_normalized("NFC", text)


def folded(text: str) -> str:
    """`text` as label characters: runs of anything but letters and digits as one `_`, none at either end."""
    return LABEL_UNSAFE.sub("_", unicodedata.normalize("NFKD", text).lower()).strip("_")


def database_label(database: str) -> str:
    """The database's part of a label: its name folded, with a short digest of the name where folding loses
    something (`a_b` folds as `a-b` does, `App` as `app`), so that two databases never share it, in one export or
    in exports made apart (a digest of six hex digits: two such names sharing one are unlikely, not impossible)."""
    part = folded(database)
    if part.replace("_", "-") != database:
        part = f"{part}_{hashlib.sha256(database.encode()).hexdigest()[:6]}".strip("_")
    return part


def id_label(policy_id: str) -> str:
    """The policy ID's part of a label: the ID folded, with a short digest of it where folding loses something."""
    part = folded(policy_id)
    if part != policy_id:
        part = f"{part[:32]}_{hashlib.sha256(policy_id.encode()).hexdigest()[:8]}".strip("_")
    return part


def label_for(db: DatabaseRef, policy_id: str, taken: set[str]) -> str:
    """A resource name (letters, digits, `_`, not starting with a digit) from what never changes: the database's
    name and the policy's ID, parted by `__` (never inside a part). Not the policy's name: a policy renamed in
    PlanetScale would get a new label, and a moved label is a destroy in `terraform plan`. So the label is the same
    whatever else its database holds, whoever exports it and however the exports are cut. `taken` (one export's
    labels) guards against a digest shared by chance."""
    base = f"{database_label(db.database)}__{id_label(policy_id)}"
    if not base[0].isalpha():
        base = "_" + base  # `_` begins no other label: each part begins with a letter or a digit
    label = base
    number = 2
    while label in taken:
        label = f"{base}_{number}"
        number += 1
    taken.add(label)
    return label


def name_comment(name: str) -> str:
    """A comment line naming the policy for whoever reads the code: the name escaped as in its HCL string (line
    breaks, anything invisible and the backtick as escapes), so that no name ends the comment or the code block."""
    return f"# {hcl_string(name)[1:-1]}"


def hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return hcl_string(str(value))


def aligned(pairs: list[tuple[str, str]], indent: str) -> list[str]:
    """`key = value` lines with the `=` aligned, as `terraform fmt` writes them."""
    width = max(len(k) for k, _ in pairs)
    return [f"{indent}{k.ljust(width)} = {v}" for k, v in pairs]


def terraform_arguments(db: DatabaseRef, policy: BackupPolicy) -> dict[str, Any]:
    """What the resource is given: every argument the policy has a value for (a null one is left out, as the
    provider reads it back as null)."""
    values: dict[str, Any] = {"organization": db.organization, "database": db.database}
    for name in TERRAFORM_ARGUMENTS:
        value = policy.field_value(name)
        if value is not None:
            values[name] = value
    return values


def policy_hcl(db: DatabaseRef, resource_type: str, label: str, policy: BackupPolicy) -> str:
    arguments = [(k, hcl_value(v)) for k, v in terraform_arguments(db, policy).items()]
    import_id = [("database", hcl_string(db.database)), ("id", hcl_string(policy.id)),
                 ("organization", hcl_string(db.organization))]
    note = ["# A required system policy: PlanetScale refuses to delete it, so keep it out of any destroy."] \
        if policy.required else []
    return "\n".join([
        *note,
        name_comment(policy.name),
        f'resource "{resource_type}" "{label}" {{',
        *aligned(arguments, "  "),
        "}",
        "",
        "import {",
        f"  to = {resource_type}.{label}",
        "  id = jsonencode({",
        *aligned(import_id, "    "),
        "  })",
        "}",
    ])


def terraform_units(databases: Iterable[ExportedDatabase]) -> list[str]:
    """The export as pieces that are each valid HCL on their own: a heading, then one resource with its
    import block per policy. Joined with blank lines they are one file."""
    units = ["# Backup policies exported by backup-policy-bot. Needs Terraform 1.5 or later (import blocks)\n"
             "# and the planetscale/planetscale provider. Once terraform plan has imported them, it shows no change."]
    taken: set[str] = set()
    for exported in databases:
        resource_type = exported.resource_type
        if resource_type is None or not exported.policies:
            continue
        units.append(f"# {exported.db} ({exported.kind}): {len(exported.policies)} "
                     f"polic{'y' if len(exported.policies) == 1 else 'ies'}")
        for policy in exported.policies:
            units.append(policy_hcl(exported.db, resource_type, label_for(exported.db, policy.id, taken), policy))
    return units


# --- JSON ---------------------------------------------------------------------------------------------


def json_safe(text: str) -> str:
    """JSON text with every character that is not printable, and the backtick, as a `\\u` escape (surrogate
    pairs beyond the BMP): still the same JSON, but nothing invisible and nothing that closes a code block."""
    out: list[str] = []
    escaped = False
    for ch in text:
        if ch == "\n" or (ch != "`" and ch.isprintable()
                          and not ((escaped or out[-1:] == ['"']) and unicodedata.category(ch).startswith("M"))):
            out.append(ch)
            escaped = False
            continue
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
        escaped = True
    return "".join(out)


def json_document(databases: Iterable[ExportedDatabase]) -> dict[str, Any]:
    return {"databases": [
        {"organization": d.db.organization, "database": d.db.database, "kind": d.kind,
         "terraform_resource_type": d.resource_type,
         "backup_policies": [p.model_dump(mode="json") for p in d.policies]}
        for d in databases]}


def json_text(databases: Iterable[ExportedDatabase]) -> str:
    """The policies as PlanetScale gives them, per database; a newline only between JSON tokens (strings
    escape theirs), so that the text may be split at any line."""
    return json_safe(json.dumps(json_document(databases), indent=2, ensure_ascii=False))


# --- splitting to fit ---------------------------------------------------------------------------------


def chunks(units: Iterable[str], limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """`units` packed in order into pieces of at most `limit` (by `measure`), joined by a blank line; a unit too
    long for one piece is split between lines (and a line too long for one piece, between characters)."""
    pieces: list[str] = []
    current = ""
    for unit in units:
        joined = f"{current}\n\n{unit}" if current else unit
        if measure(joined) <= limit:
            current = joined
            continue
        if current:
            pieces.append(current)
            current = ""
        if measure(unit) <= limit:
            current = unit
            continue
        for line in unit.split("\n"):
            joined = f"{current}\n{line}" if current else line
            if measure(joined) <= limit:
                current = joined
                continue
            if current:
                pieces.append(current)
                current = ""
            while measure(line) > limit:
                cut = limit
                while cut > 1 and measure(line[:cut]) > limit:
                    cut -= 1
                pieces.append(line[:cut])
                line = line[cut:]
            current = line
    if current:
        pieces.append(current)
    return pieces
