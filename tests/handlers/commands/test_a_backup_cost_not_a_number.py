"""A backup's `estimated_storage_cost` is only shown, never judged: one PlanetScale writes against its spec (text,
an object, a list, below zero) is left out as not given. It made the whole backup list unreadable, so a
`max_storage` bound could not be judged, a bulk change had no estimates and `status` no storage; one below zero
written as text was told as a price. Through Bolt's signed pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from approval_helpers import ALICE, RULES
from backup_reads import CostsWrittenAs
from bulk_helpers import channel_messages
from conftest import DEMO_TOKEN, DEMO_TOKEN_ID, Bot, make_bot

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.store import Store
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState
from bot.runtime.settings import Settings

BOUND = """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_storage = "6GB"
"""
WEEKLY = "bp02prodwk"  # production, weekly, kept 4 weeks, backups of 1.25 GB


@pytest.fixture
def costs_as(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
             planetscale_server: tuple[Any, BackgroundServer], store_url: str,
             request: pytest.FixtureRequest) -> Iterator[Bot]:
    client = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, planetscale_server[1].url + "/v1",
                               retry=RetryPolicy(attempts=1), sleep=lambda _: None,
                               transport=CostsWrittenAs(request.param))
    store = Store(store_url)
    store.migrate()
    yield from make_bot(settings, slack, client, store, slack_server)
    store.close()
    client.close()


NOT_NUMBERS = pytest.mark.parametrize("costs_as", ["n/a", "", {"amount": 0.03}, ["0.03"], 10**400], indirect=True,
                                      ids=["text", "empty", "object", "list", "past-a-float"])


@NOT_NUMBERS
def test_a_cost_that_is_not_a_number_leaves_the_storage_bound_judged_and_the_change_applied(
    costs_as: Bot, planetscale: PlanetScaleState
) -> None:
    costs_as.use_rules(RULES.format(approvals=0) + BOUND)
    said = costs_as.command(f"update acme/app-db {WEEKLY} retention=3w", user=ALICE).all_text()
    assert "could not be read" not in said and "cannot be judged" not in said, said
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 3, "retention_unit": "week"}], said
    status = costs_as.command("status acme/app-db", user=ALICE).all_text()
    assert "3 backups kept at once, about 3.8 GB" in status and "could not be read" not in status, status


@NOT_NUMBERS
def test_a_cost_that_is_not_a_number_leaves_a_bulk_changes_estimates_read(
    costs_as: Bot, planetscale: PlanetScaleState
) -> None:
    costs_as.use_rules(RULES.format(approvals=0) + BOUND)
    costs_as.command(f"update acme/app-db {WEEKLY} --where target=production retention=3w", user=ALICE)
    said = " ".join(str(m) for m in channel_messages(costs_as))
    assert "could not be read" not in said and "not estimated" not in said, said
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 3, "retention_unit": "week"}], said


@pytest.mark.parametrize("costs_as", ["-3", "-0.5"], indirect=True)
def test_a_cost_below_zero_written_as_text_is_not_told_as_a_price(costs_as: Bot) -> None:
    costs_as.use_rules(RULES.format(approvals=1))
    said = costs_as.command(f"update acme/app-db {WEEKLY} retention=3w --dry-run", user=ALICE).all_text()
    assert "5.0 GB → 3.8 GB" in said and "estimated storage cost" not in said, said
