"""`update` over many policies: `<db>` a glob within one organization (`acme/*`), `<policy>` `*` or a name glob
(`"Production *"`), `--where target=production`. Anything else is the one-policy grammar (bot/domain/grammar.py),
whose key=value parsing this reuses."""

from __future__ import annotations

import html
from dataclasses import dataclass

from bot.domain.commands import Command, CommandError, DatabaseRef, is_glob, is_slug
from bot.domain.grammar import (
    DATABASE_GLOB,
    MAX_TEXT_LENGTH,
    parse,
    parse_database,
    parse_policy_ref,
    parse_update,
)
from bot.domain.policy import PolicyUpdate
from bot.domain.setting_values import TARGETS, did_you_mean
from bot.domain.tokens import Token, tokenize

WHERE = "--where"
WHERE_KEYS = ("target",)


@dataclass(frozen=True)
class BulkUpdateCommand:
    """`db.database` and `policy` may be globs; `where_target` narrows the policies to one target."""

    db: DatabaseRef
    policy: str
    update: PolicyUpdate
    reason: str | None = None
    dry_run: bool = False
    where_target: str | None = None

    @property
    def selection(self) -> str:
        where = f" where target={self.where_target}" if self.where_target else ""
        return f"{self.db} {self.policy}{where}"


@dataclass(frozen=True)
class BulkEditCommand:
    """`edit <org>/<glob> [<policy glob>]`: a form to change a chosen set of the policies it names."""

    db: DatabaseRef
    policy: str = "*"


def parse_command(text: str) -> Command | BulkUpdateCommand | BulkEditCommand:
    """The text after `/backup-policy`: a bulk update or form when it names many policies, else the usual
    command."""
    if len(text) <= MAX_TEXT_LENGTH:
        tokens = tokenize(html.unescape(text))
        head = tokens[0].text.lower() if tokens else ""
        if len(tokens) >= 3 and head == "update" and _is_bulk(tokens):
            return parse_bulk(tokens[1:])
        if head == "edit" and len(tokens) >= 2 and _is_bulk([*tokens, Token("", False)]):
            return parse_bulk_edit(tokens[1:])
    return parse(text)


def _is_bulk(tokens: list[Token]) -> bool:
    parts = tokens[1].text.split("/")
    return ((len(parts) == 2 and is_glob(parts[1])) or is_glob(tokens[2].text)
            or any(t.text.lower() == WHERE and not t.quoted for t in tokens))


def parse_bulk_edit(tokens: list[Token]) -> BulkEditCommand:
    db = _database_glob(tokens[0])
    policy = parse_policy_ref(tokens[1], "edit", db) if len(tokens) > 1 else "*"
    if tokens[2:]:
        raise CommandError(f"Unexpected `{' '.join(t.text for t in tokens[2:])[:80]}` after `edit`: it takes a "
                           f'database (or a glob) and a policy name (or a glob), e.g. `/backup-policy edit {db} '
                           '"Production *"`.')
    return BulkEditCommand(db, policy)


def parse_bulk(tokens: list[Token]) -> BulkUpdateCommand:
    db = _database_glob(tokens[0])
    policy = parse_policy_ref(tokens[1] if len(tokens) > 1 else None, "update", db)
    rest, where_target = _where(tokens[2:], db, policy)
    one = parse_update(db, policy, rest, bulk=True)
    return BulkUpdateCommand(db, policy, one.update, one.reason, one.dry_run, where_target)


def _database_glob(token: Token) -> DatabaseRef:
    parts = token.text.split("/")
    if len(parts) == 2 and is_glob(parts[0]):
        raise CommandError(f"`{parts[0][:64]}`: a bulk change covers one organization, so no glob there: name it, "
                           "e.g. `acme/*`.")
    if len(parts) == 2 and is_slug(parts[0]) and is_glob(parts[1]) and DATABASE_GLOB.fullmatch(parts[1]):
        return DatabaseRef(parts[0].lower(), parts[1].lower())
    return parse_database(token, "update")


def _where(tokens: list[Token], db: DatabaseRef, policy: str) -> tuple[list[Token], str | None]:
    """The tokens without `--where key=value`, and the target it names."""
    rest: list[Token] = []
    target: str | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.quoted or token.text.lower() != WHERE:
            rest.append(token)
            continue
        example = f'`/backup-policy update {db} "{policy}" --where target=production retention=14d`'
        condition = tokens[i].text if i < len(tokens) else ""
        i += 1
        key, _, value = condition.partition("=")
        if key.strip().lower() not in WHERE_KEYS or not value:
            raise CommandError(f"`--where` takes target=production or target=development, e.g. {example}.")
        if target is not None:
            raise CommandError("`--where` is given twice: give it once.")
        low = value.strip().lower()
        if low not in TARGETS:
            raise CommandError(f"`{value[:40]}` is not a target.{did_you_mean(low, TARGETS)} Use production or "
                               f"development, e.g. {example}.")
        target = low
    return rest, target
