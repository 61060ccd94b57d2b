"""What a policy costs: how many backups it keeps at once (retention ÷ frequency), and the storage they take,
estimated from the latest successful backup of each branch it backs up (docs/planetscale-api.md, "Sizes and
costs"). Numbers only: the handlers write them in words.

The basis of an estimate is read when a change is asked (`DatabaseFacts`) and kept with the request, so the
approvers see the estimate the requester saw; when it applies, the database's policies (how many, of which
target) are read again under the lease, and so is the basis wherever a `max_storage` guardrail covers it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain.policy import name_key

# Hours in each unit for counting backups kept at once: a month and a year at their mean length, so that a
# year's retention of monthly backups keeps 12 of them.
KEPT_UNIT_HOURS: dict[str, int] = {"hour": 1, "day": 24, "week": 168, "month": 730, "year": 8760}
SIZE_UNITS: dict[str, int] = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
                              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50}
# The largest size read: an exabyte, far past any database and well inside a float.
MOST_BYTES = 10**18
# The largest storage cost told as a number: past it, PlanetScale's estimate is told as a bound, not in its digits.
MOST_COST = 10**12
SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*")


# How ReadsSpent's words begin (bulk_costs.py): an estimate a bulk change left out once its share of reads was
# spent, PlanetScale never asked for it.
SHARE_SPENT = "this bulk change's estimates read at most"


# How a target with more branches than an estimate reads is told (backup_health.TooManyBranches).
BRANCHES_PAST = "and the bot estimates storage from at most"


def unread_words(unread: str | None) -> str:
    """How backups missing from an estimate are told: never asked for (a bulk change's share spent, a target past
    the branches an estimate reads), or asked and not answered."""
    never = unread and (unread.startswith(SHARE_SPENT) or BRANCHES_PAST in unread)
    return "were not read" if never else "could not be read"


def kept_at_once(values: Mapping[str, Any]) -> int:
    """How many backups a policy keeps at once: its retention over its frequency, rounded up, at least one."""
    retention = values["retention_value"] * KEPT_UNIT_HOURS.get(values["retention_unit"], 24)
    frequency = values["frequency_value"] * KEPT_UNIT_HOURS.get(values["frequency_unit"], 24)
    if frequency <= 0:
        return 1
    # In integers: PlanetScale's numbers are any JSON integer, and one past a float's range overflows float().
    return max(1, int(-(-retention // frequency)))


def parse_size(text: str) -> int:
    """`2TB`, `500 GB`, `1.5TiB`: bytes (decimal units as PlanetScale bills, binary ones with `i`), a whole number of
    them above zero. Counted exactly (Decimal): `0.1KB` is 100 bytes, not 100.00000000000001."""
    match = SIZE.fullmatch(text)
    unit = SIZE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"`{text}` is not a size: write a number and a unit (GB, TB, or GiB, TiB), e.g. 2TB")
    try:
        amount = Decimal(match.group(1)) * unit
    except ArithmeticError:  # past Decimal's largest exponent, so far past MOST_BYTES
        raise ValueError(f"`{text}` is too large: at most {describe_size(MOST_BYTES)}") from None
    if amount == 0:
        raise ValueError(f"`{text}` allows no storage at all, so every change would be refused: write a size above "
                         "zero, e.g. 2TB, or leave max_storage out")
    if amount < 1:
        raise ValueError(f"`{text}` is less than one byte: write a size of at least 1B, e.g. 2TB")
    if amount != amount.to_integral_value():
        raise ValueError(f"`{text}` is {amount.normalize():f} bytes, a fraction of a byte: write a whole number of "
                         f"bytes, e.g. {int(amount)}B")
    if amount > MOST_BYTES:
        raise ValueError(f"`{text}` is too large: at most {describe_size(MOST_BYTES)}")
    return int(amount)


def describe_size(size: float, decimals: int = 1) -> str:
    if size > MOST_BYTES:
        # PlanetScale's sizes are any JSON integer: past an exabyte (or a float) one is told as a bound.
        return f"more than {describe_size(MOST_BYTES, decimals)}"
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if unit == "B" and amount < 1000:
            return f"{amount:.0f} B"
        # Rounded as it is written: 999.96 GB is 1.0 TB, not "1000.0 GB".
        if unit != "B" and (round(amount, decimals) < 1000 or unit == "TB"):
            return f"{amount:.{decimals}f} {unit}"
        amount /= 1000
    return f"{size:.0f} B"  # pragma: no cover


def describe_cost(cost: float) -> str:
    """PlanetScale's estimated storage cost as told: two decimals, or a bound past MOST_COST (any JSON number
    within a float's range is one, and written out it runs to hundreds of digits)."""
    return f"more than {MOST_COST:.2f}" if cost > MOST_COST else f"{cost:.2f}"


def describe_apart(size: int, bound: int) -> tuple[str, str]:
    """Two different sizes in words with as many decimals as tell them apart (bytes when none does): a bound of
    1 TiB (1.0995 TB) and 1.1 TB past it must not both read "1.1 TB"."""
    for decimals in range(1, 5):
        told = describe_size(size, decimals), describe_size(bound, decimals)
        if told[0] != told[1]:
            return told
    return f"{size:,} bytes", f"{bound:,} bytes"


@dataclass(frozen=True)
class Basis:
    """The latest successful backup of each branch a policy backs up: their sizes summed (bytes), and the sum of
    PlanetScale's `estimated_storage_cost` of them (None when it gave none)."""

    size: int
    cost: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "cost": self.cost}

    @classmethod
    def of(cls, data: Any) -> Basis | None:
        if not isinstance(data, dict) or not isinstance(data.get("size"), int):
            return None
        cost = data.get("cost")
        return cls(data["size"], finite(float(cost)) if isinstance(cost, int | float) else None)


@dataclass(frozen=True)
class DatabaseFacts:
    """What the database held when a change was judged: its policies (ID, name, target), and the basis of the
    estimate for the policy as it is (`before`) and as it would be (`after`, the branches of its new target).
    `unread`: why the backups could not be read, when they could not (the estimate is then unknown);
    `policies_unread`: why the policies could not be read again when asked to (a floor cannot be judged then)."""

    policies: tuple[tuple[str, str, str], ...] = ()
    before: Basis | None = None
    after: Basis | None = None
    unread: str | None = None
    policies_unread: str | None = None
    # The policies a deletion or move of the bot's, closed as not applied, may still take away (ID, the target
    # it would leave it on, "" when gone): a floor counts them gone, and a move not yet on the target it was sent
    # to, as it may never land (bot/domain/late_creations.py).
    landing: tuple[tuple[str, str], ...] = ()
    # The names (name, target) a creation or rename of the bot's, closed as not applied, may still give: a new
    # name must not pass for one of them either.
    making: tuple[tuple[str, str], ...] = ()

    def count(self, target: str) -> int:
        """The policies on `target` whatever the bot's unconfirmed writes do: on it as listed and where they land."""
        landing = dict(self.landing)
        return sum(1 for i, _, t in self.policies if t == target and landing.get(i, t) == target)

    def arriving(self, target: str) -> list[str]:
        """The policies a move of the bot's, closed as not applied, may still bring to `target` (not counted)."""
        landing = dict(self.landing)
        return [i for i, _, t in self.policies if t != target and landing.get(i) == target]

    def named(self, name: str) -> list[str]:
        """The policies whose name reads as `name` (policy.name_key): a new name must not pass for one of them."""
        key = name_key(name)
        return [i for i, n, _ in self.policies if name_key(n) == key]

    def making_named(self, name: str) -> list[str]:
        """The targets of the policies the bot's unconfirmed creations or renames may still give a name that reads
        as `name`."""
        key = name_key(name)
        return [t for n, t in self.making if name_key(n) == key]

    def with_policies(self, policies: Sequence[tuple[str, str, str]]) -> DatabaseFacts:
        return DatabaseFacts(tuple(policies), self.before, self.after, self.unread)

    def to_json(self) -> dict[str, Any]:
        return {"policies": [list(p) for p in self.policies],
                "before": self.before.to_json() if self.before else None,
                "after": self.after.to_json() if self.after else None, "unread": self.unread}

    @classmethod
    def of(cls, data: Any) -> DatabaseFacts | None:
        if not isinstance(data, dict):
            return None
        policies = tuple((str(p[0]), str(p[1]), str(p[2])) for p in data.get("policies") or ()
                         if isinstance(p, list | tuple) and len(p) == 3)
        unread = data.get("unread")
        return cls(policies, Basis.of(data.get("before")), Basis.of(data.get("after")),
                   str(unread) if unread else None)


@dataclass(frozen=True)
class Side:
    """One side of a change: the backups kept at once, and the storage (bytes) and cost they are estimated at
    (None: no successful backup to estimate from, or the backups could not be read)."""

    kept: int
    storage: int | None
    cost: float | None


@dataclass(frozen=True)
class Estimate:
    """Before → after; a side is None when there is no policy on it (before a creation, after a deletion)."""

    before: Side | None
    after: Side | None
    unread: str | None = None


def finite(cost: float | None) -> float | None:
    """A cost, or None when it is past a float's range: no estimate, and no JSON column holds `Infinity`."""
    return cost if cost is not None and math.isfinite(cost) else None


def kept_cost(kept: int, basis: Basis | None) -> float | None:
    """PlanetScale's estimated cost of `kept` backups like the basis; None when it gave none or it overflows."""
    if basis is None or basis.cost is None:
        return None
    try:
        cost = finite(kept * basis.cost)
    except OverflowError:  # a count of backups past a float's range
        return None
    return round(cost, 4) if cost is not None else None


def side(values: Mapping[str, Any] | None, basis: Basis | None) -> Side | None:
    if values is None:
        return None
    kept = kept_at_once(values)
    return Side(kept, kept * basis.size if basis is not None else None, kept_cost(kept, basis))


def estimate(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
             facts: DatabaseFacts | None) -> Estimate:
    """The estimate of a change from `before` to `after` (either None for a creation or a deletion)."""
    facts = facts or DatabaseFacts()
    return Estimate(side(before, facts.before), side(after, facts.after), facts.unread)


def latest_basis(latest: Mapping[str, tuple[str, int, float | None]]) -> Basis | None:
    """From the latest successful backup of each branch (by branch: when it ended, its size, its cost), the
    basis; None when no branch has one."""
    if not latest:
        return None
    costs = [finite(c) for _, _, c in latest.values()]
    total = finite(sum(c for c in costs if c is not None)) if all(c is not None for c in costs) else None
    return Basis(sum(s for _, s, _ in latest.values()), round(total, 6) if total is not None else None)
