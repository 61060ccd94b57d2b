"""What PlanetScale's answers hold, read: JSON as JSON has it, and an error's code and message."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from tenacity import RetryCallState

from bot.domain.backups import Backup, parse_time
from bot.domain.naming import outside
from bot.domain.policy import BackupPolicy
from bot.domain.ports import MOST_LISTED, BadResponse, PlanetScaleError

# How far ahead of this machine's clock a backup's time may lie (the two clocks' drift): past it, the backup did not
# happen yet, and read as a policy's last success it would keep the policy healthy until then.
FUTURE_MARGIN = timedelta(days=1)
# A PlanetScale service token's shape: an error text echoing one (a gateway repeating the request's headers) is
# shown, logged and recorded without it.
TOKEN_SHAPE = re.compile(r"pscale_tkn_[A-Za-z0-9_]+")
HIDDEN = "[redacted]"

log = logging.getLogger(__name__)


def not_json(constant: str) -> Any:
    """Python's json reads NaN and Infinity, which JSON has not: a number no store's JSON column takes."""
    raise ValueError(f"{constant} is not JSON")


def without_token(text: str, token: str, token_id: str = "") -> str:
    """`text` with the service token, its ID (half of its credentials), and anything shaped like a token hidden."""
    for secret in (token, token_id):
        if len(secret) >= 6:
            text = text.replace(secret, HIDDEN)
    return TOKEN_SHAPE.sub(HIDDEN, text)


def error_body(content: bytes, token: str = "", token_id: str = "") -> tuple[str | None, str | None]:
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, a number past Python's digits, or nested too deep
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("code"), body.get("message")
    # A code is a short name (`not_found`); a broken gateway's may be megabytes, logged with each try.
    # Hidden before it is cut, so that no cut leaves part of the token.
    return ((without_token(str(code), token, token_id)[:100] if code else None),
            (without_token(str(message), token, token_id)[:300] if message else None))


def holding(policy: BackupPolicy, sent: dict[str, Any], answered: str, read: str) -> BackupPolicy:
    """A write's answer when it holds every value sent; else a BadResponse, so that what was written is read."""
    if unheld := [f for f, v in sent.items() if policy.field_value(f) != v]:
        raise BadResponse(f"PlanetScale answered {answered} not holding its {', '.join(unheld)}; the bot reads "
                          f"{read}.", status=200)
    return policy


def next_page(named: Any, page: int, where: str, taken: int, held: int = 1) -> int | None:
    """The page after `page`, as its answer names it: none, or the one after it. Any other (itself, an earlier
    one, one far ahead, not a page number) would loop or skip items: the list is not read whole, and is not
    taken for whole. Nor is one whose page holds nothing (`held` items) and names a next: pages of nothing
    without end would each cost a request, up to the most pages read, for every list."""
    if named is None:
        return None
    if type(named) is int and named == page + 1 and held:
        return named
    if held == 0:
        raise BadResponse(f"PlanetScale answered for {where} with a list whose page {page} holds nothing and names "
                          f"a next page; the bot read its first {page} page(s), {taken} items, and stopped, without "
                          "the rest. Try again, and report it if it persists.")
    shown = json.dumps(named)[:40]
    raise BadResponse(f"PlanetScale answered for {where} with a list whose page {page} names {shown} as its next "
                      f"page, not page {page + 1}; the bot read its first {page} page(s), {taken} items, and "
                      "stopped, without the rest. Try again, and report it if it persists.")


def page_items(body: Any, where: str) -> list[dict[str, Any]]:
    """A list page's items, each an object; else BadResponse."""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise BadResponse(f"PlanetScale answered for {where} with a list this bot cannot read.")
    if not all(isinstance(item, dict) for item in items):
        raise BadResponse(f"PlanetScale answered for {where} with a list holding something other than "
                          "objects; this bot cannot read it.")
    return items


class CutShort(BadResponse):
    """A list longer than the bot reads of one: `taken` items were read, the rest not."""

    def __init__(self, message: str, taken: int):
        super().__init__(message)
        self.taken = taken


def cut_short(where: str, taken: int) -> CutShort:
    """A list longer than the bot reads of one, for a reader that would take what is missing for absent (a policy
    nobody holds, a database without policies)."""
    return CutShort(f"PlanetScale answered for {where} with a list longer than the bot reads of one: it read "
                    f"{taken} items and stopped, so the rest was not read and the list is not taken for whole. "
                    "Try again, and report it if it persists.", taken)


def not_all_listed(what: str, where: str, taken: int, narrow: str) -> str:
    """A list of `what` cut at the items the bot reads of one, in words: the limit, and how to reach the rest."""
    return (f"PlanetScale lists more {what} in {where} than the {MOST_LISTED:,} the bot reads of one list: it read "
            f"the first {taken:,}, and those past them were not read, so nothing is said of them. {narrow}")


def backups_read(items: Iterable[dict[str, Any]], where: str, now: datetime, policy_id: str | None = None
                 ) -> list[Backup]:
    """A backup list's items, each as the spec has it and none made, started or finished in the future; each once
    (a list that shifts while read page by page holds one twice: the later read stands, in the place of the
    first); of `policy_id` alone when given, as the list was asked for: an answer that ignored the `policy` filter
    (a proxy or cache keyed on the path alone) holds other policies' backups, which tell nothing of this one."""
    try:
        read = list({backup.id: backup for backup in map(Backup.model_validate, items)}.values())
    except ValidationError:
        raise BadResponse(f"PlanetScale answered for {where} with a backup list this bot cannot read.") from None
    if policy_id:
        read = [backup for backup in read if backup.policy_id in (None, policy_id)]
    latest = now + FUTURE_MARGIN
    for backup in read:
        future = next((t for t in (backup.created_at, backup.started_at, backup.completed_at)
                       if t is not None and parse_time(t) > latest), None)
        if future is not None:
            raise BadResponse(f"PlanetScale answered for {where} with a backup list this bot cannot read: backup "
                              f"“{outside(backup.id[:64])}” is dated {future[:40]}, in the future, which tells "
                              "nothing of the policy's backups.")
    return read


def the_one_asked(policy: BackupPolicy, asked: str, given: str, where: str) -> BackupPolicy:
    """The answer when it is the policy asked (`given`: its ID, or a creation's name): another policy's tells
    nothing of this one, so whether a write landed is read back."""
    if given != asked:
        log.warning("planetscale answered for policy %r with policy %r", asked[:64], policy.id[:64])
        raise BadResponse(f"PlanetScale answered for {where} with another backup policy than the one asked; the "
                          "bot reads the policies again to learn what they hold.")
    return policy


def log_retry(state: RetryCallState) -> None:
    """A try that failed, logged as tenacity is about to wait before the next one."""
    exc = state.outcome.exception() if state.outcome else None
    error = getattr(exc, "error", None)  # a retryable failure carries the PlanetScaleError it stands for
    reason = error.user_message if isinstance(error, PlanetScaleError) else exc
    log.warning("planetscale attempt %d failed (%s); retrying in %.1f s", state.attempt_number, reason,
                state.upcoming_sleep)
