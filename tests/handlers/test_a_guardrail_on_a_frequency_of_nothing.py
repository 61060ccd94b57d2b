"""A policy PlanetScale holds with a frequency of nothing (0 or below: no backups ever come) under a `max_interval`:
it is not within the bound, so a change of another field is refused naming the guardrail and the frequency it
allows, as the watch tells such a policy in trouble. Through Bolt's real pipeline on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, PROD, RULES
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

CEILING = """
[[guardrails]]
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
max_interval = "1d"
"""


@pytest.mark.parametrize("frequency", [0, -1])
def test_a_change_of_the_retention_alone_is_refused_by_the_ceiling(
        approvals_bot: Bot, planetscale: PlanetScaleState, frequency: int) -> None:
    approvals_bot.use_rules(RULES.format(approvals=1) + CEILING)
    with planetscale.lock:
        planetscale.policies[("acme", "app-db")][PROD]["frequency_value"] = frequency
    said = approvals_bot.command(f'update acme/app-db {PROD} retention=3d reason="keep more"', user=ALICE).all_text()
    assert "guardrail 1" in said and "`frequency=1d`" in said, said
    assert planetscale.calls("PATCH") == []
    assert approvals_bot.deps.store.requests() == []
