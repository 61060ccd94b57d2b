"""A backup's `estimated_storage_cost` is only shown, never judged: one PlanetScale writes against its spec (text,
an object, a list, below zero) is left out as not given. It made the whole backup list unreadable, so a
`max_storage` bound could not be judged, a bulk change had no estimates and `status` no storage; one below zero
written as text was told as a price. Through Bolt's signed pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from approval_helpers import ALICE, RULES
from backup_reads import CostsWrittenAs
from bulk_helpers import channel_messages
from conftest import DEMO_TOKEN, DEMO_TOKEN_ID, Bot, make_bot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.planetscale import PlanetScaleClient, RetryPolicy
from bot.adapters.store import Store
from bot.domain.costs import MOST_COST
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
                               transport=request.param if isinstance(request.param, CostsWrittenAs)
                               else CostsWrittenAs(request.param))
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


def longest_number(text: str) -> int:
    return max((len(run) for run in re.findall(r"[0-9][0-9.,]*", text)), default=0)


@pytest.mark.parametrize("costs_as", [1e300, 10**40], indirect=True, ids=["float", "integer"])
def test_a_cost_far_past_any_price_is_told_as_a_bound_not_in_hundreds_of_digits(costs_as: Bot) -> None:
    """A JSON number within a float's range is a cost as given; one of hundreds of digits was written out whole in
    `status`, a change's estimate and a bulk change's lines (review rev22a)."""
    costs_as.use_rules(RULES.format(approvals=1))
    said = [costs_as.command("status acme/app-db", user=ALICE).all_text(),
            costs_as.command(f"update acme/app-db {WEEKLY} retention=3w --dry-run", user=ALICE).all_text()]
    costs_as.command(f"update acme/app-db {WEEKLY} --where target=production retention=3w", user=ALICE)
    said.append(" ".join(m.text + json.dumps(m.blocks) for m in channel_messages(costs_as)))
    for text in said:
        assert "estimated storage cost" in text and f"more than {MOST_COST:.2f}" in text, text
        assert longest_number(text) <= len(f"{MOST_COST:.2f}"), text


ANY_COST = CostsWrittenAs(0.0)  # its value set by each example


@pytest.mark.parametrize("costs_as", [ANY_COST], indirect=True, ids=["any"])
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cost=st.one_of(st.floats(min_value=0, allow_infinity=False, allow_nan=False),
                      st.integers(min_value=0, max_value=10**320)))
def test_any_cost_planetscale_gives_is_told_in_a_number_of_a_few_digits(costs_as: Bot, cost: float) -> None:
    ANY_COST.value = cost
    said = costs_as.command("status acme/app-db", user=ALICE).all_text()
    assert "Something went wrong" not in said, said
    assert longest_number(said) <= len(f"{MOST_COST:.2f}"), said
