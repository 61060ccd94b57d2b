"""`create` and `delete` in the `/backup-policy` grammar: a creation takes the keys of an update (all of the ones a
new policy needs), a deletion a policy and nothing but a reason and `--dry-run`."""

from __future__ import annotations

from bot.domain.grammar import (
    KEY_FIELDS,
    MAX_REASON_LENGTH,
    CommandError,
    CreateCommand,
    DatabaseRef,
    DeleteCommand,
    Token,
    parse_policy_ref,
    parse_update,
    refuse_control_characters,
)
from bot.domain.policy import REQUIRED_TO_CREATE

EXAMPLE = 'name="Nightly" target=production retention=7d frequency=1d at=02:00'


def parse_create(db: DatabaseRef, tokens: list[Token]) -> CreateCommand:
    if not tokens:
        return CreateCommand(db, None)  # the form
    if not any("=" in t.text for t in tokens):
        raise CommandError(f"`create` needs the new policy's settings as key=value, e.g. "
                           f"`/backup-policy create {db} {EXAMPLE}`.")
    parsed = parse_update(db, "", tokens)
    given = parsed.update.to_api()
    missing = list(dict.fromkeys(example for field, example in REQUIRED_TO_CREATE.items() if field not in given))
    if missing:
        raise CommandError(f"A new policy needs {', '.join(f'`{m}`' for m in missing)} as well, e.g. "
                           f"`/backup-policy create {db} {EXAMPLE}`.")
    return CreateCommand(db, parsed.update, parsed.reason, parsed.dry_run)


def parse_delete(db: DatabaseRef, tokens: list[Token]) -> DeleteCommand:
    policy = parse_policy_ref(tokens[0] if tokens else None, "delete", db)
    reason: str | None = None
    dry_run = False
    for token in tokens[1:]:
        key = token.text.split("=", 1)[0].strip().lower()
        if token.text.lower() in ("--dry-run", "--dryrun") and not token.quoted:
            dry_run = True
        elif key == "reason" and "=" in token.text:
            if reason is not None:
                raise CommandError("`reason` is given twice: give it once.")
            reason = parse_reason(token.text.split("=", 1)[1])
        else:
            hint = " Only `reason=\"…\"` and `--dry-run` may follow the policy." if key in KEY_FIELDS or \
                "=" not in token.text else ""
            raise CommandError(f"Unexpected `{token.text[:60]}` after `delete {db} {policy[:60]}`.{hint} Quote a "
                               f'policy name that has spaces, e.g. `/backup-policy delete {db} "Weekly archive"`.')
    return DeleteCommand(db, policy, reason, dry_run)


def parse_reason(value: str) -> str:
    reason = value.strip()
    refuse_control_characters("reason", reason)
    if not reason:
        raise CommandError('`reason=` is empty: write it in quotes, e.g. reason="no longer needed".')
    if len(reason) > MAX_REASON_LENGTH:
        raise CommandError(f"The reason is {len(reason)} characters; the most is {MAX_REASON_LENGTH}.")
    return reason
