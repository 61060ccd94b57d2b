"""Review edges19: the two levels of lease (a policy's, its database's) stay exclusive whatever the names'
length or characters, on SQLite and PostgreSQL. PlanetScale's spec bounds no name, and a bulk change takes its
databases' names from PlanetScale's listing, so they reach the store as PlanetScale gives them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.adapters.store import Store
from bot.domain.change_requests import ChangeKind, ChangeRequest

NAMES = {
    "short": ("acme", "app-db"),
    "database-1100": ("acme", "pay-" + "x" * 1096),
    "organization-1100": ("o" * 1100, "app-db"),
    "cjk-1000": ("acme", "数" * 1000),  # 3,000 bytes: more than PostgreSQL's index entry holds
    "slash": ("acme", "pay/" + "y" * 400),
    "nul": ("acme", "pay\x00" + "z" * 400),
}


@pytest.fixture
def clocked(store_url: str) -> Iterator[tuple[Store, list[float]]]:
    now = [1000.0]
    store = Store(store_url, clock=lambda: now[0])
    store.migrate()
    yield store, now
    store.close()


def asking(organization: str, database: str, policy_id: str, changes: dict[str, object],
           kind: ChangeKind = ChangeKind.UPDATE) -> ChangeRequest:
    """A change being asked: its lease taken before its policy is read, nothing stored yet."""
    return ChangeRequest(organization, database, policy_id, "", "U0ALICE001", "C0DBAOPS01", {}, changes, 0, [],
                         0.0, kind=kind)


@pytest.mark.parametrize("names", NAMES.values(), ids=NAMES.keys())
def test_a_database_level_claim_and_a_policy_level_claim_are_never_held_at_once(
        clocked: tuple[Store, list[float]], names: tuple[str, str]) -> None:
    """bob's retention change on a policy holds the policy's lease while it is read and judged; alice's move of
    the same policy (the database's lease) must wait, and the other way round."""
    store, _ = clocked
    organization, database = names
    retention = asking(organization, database, "bp01" + "p" * 300, {"retention_value": 9})
    move = asking(organization, database, "bp01" + "p" * 300, {"target": "production"})
    assert retention.policy_key != move.policy_key  # the two levels
    held = store.claim_for_applying(retention, (), 60)
    assert held is not None
    assert store.claim_for_applying(move, (), 60) is None, "a move claimed while a policy of its database is held"
    store.release(held)
    moving = store.claim_for_applying(move, (), 60)
    assert moving is not None
    assert store.claim_for_applying(retention, (), 60) is None, "a policy claimed while its database is held"
    store.release(moving)
    assert store.claim_for_applying(retention, (), 60) is not None


@pytest.mark.parametrize("names", NAMES.values(), ids=NAMES.keys())
def test_every_claim_on_a_database_moves_its_generation_on(clocked: tuple[Store, list[float]],
                                                         names: tuple[str, str]) -> None:
    store, _ = clocked
    organization, database = names
    before = store.database_generation(organization, database)
    claim = store.claim_for_applying(asking(organization, database, "bp01" + "p" * 300, {"retention_value": 9}),
                                     (), 60)
    assert claim is not None
    assert store.database_generation(organization, database) == before + 1


def test_two_long_named_databases_alike_for_their_first_thousand_characters_have_their_own_leases(
        clocked: tuple[Store, list[float]]) -> None:
    store, _ = clocked
    first = asking("acme", "pay-" + "x" * 1100 + "-1", "bp01", {"target": "production"})
    second = asking("acme", "pay-" + "x" * 1100 + "-2", "bp01", {"retention_value": 9})
    assert store.claim_for_applying(first, (), 60) is not None
    assert store.claim_for_applying(second, (), 60) is not None, "another database's move holds this one"
    assert store.database_generation("acme", "pay-" + "x" * 1100 + "-2") == 1
