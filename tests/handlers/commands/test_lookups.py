"""Lookups that neither leak nor miss: suggestions and history only show what the caller may see, and a renamed
policy's history is found by its current name."""

from __future__ import annotations

import pytest
from access_rules import by_target
from conftest import Bot

from bot.emulators.planetscale_state import PlanetScaleState

ALICE, BOB = "U0ALICE001", "U0BOB00001"
DEV, PROD = "bp03devday", "bp01prod12h"
# alice may see and change everything; bob only development policies.
RULES = by_target(production=(["U0ALICE001"], ["U0CAROL001"], 0),
                  development=(["U0ALICE001", "U0BOB00001"], ["U0CAROL001"], 0))


@pytest.fixture
def split(bot: Bot) -> Bot:
    bot.use_rules(RULES)
    return bot


@pytest.mark.parametrize("command", ['show acme/app-db "Production dayly"',
                                     'update acme/app-db "Production dayly" retention=5d'])
def test_a_typo_never_suggests_a_policy_the_caller_may_not_see(split: Bot, planetscale: PlanetScaleState,
                                                                command: str) -> None:
    shown = split.command(command, user=BOB).all_text()
    assert "No backup policy" in shown
    assert "Production daily" not in shown and "Production weekly" not in shown
    assert "shows its 1" in shown  # bob sees one policy of app-db: the development one
    assert "Did you mean “Production daily”" in split.command(command, user=ALICE).all_text()
    assert planetscale.calls("PATCH") == []


def test_history_hides_refusals_and_moves_to_targets_the_caller_may_not_see(
    split: Bot, planetscale: PlanetScaleState
) -> None:
    split.command(f"update acme/app-db {PROD} retention=5d", user=BOB)  # refused: an entry with no before
    split.command(f"update acme/app-db {DEV} target=production frequency=1d retention=7d", user=ALICE)  # moved
    assert len(planetscale.calls("PATCH")) == 1
    mine = split.command("history acme/app-db", user=BOB).all_text()
    assert "refused" not in mine and "Development daily" not in mine
    everything = split.command("history acme/app-db", user=ALICE).all_text()
    assert f"<@{BOB}> was refused:" in everything and "Development daily" in everything
    assert f"<@{ALICE}> changed Development daily" in everything
    assert "sending" not in everything  # the bot's own entry for a change on its way


def test_history_by_a_renamed_policys_current_name_shows_its_past(split: Bot, planetscale: PlanetScaleState) -> None:
    split.command(f"update acme/app-db {DEV} retention=4d", user=ALICE)
    split.command(f'update acme/app-db {DEV} name="Dev nightly"', user=ALICE)
    shown = split.command('history acme/app-db "Dev nightly"', user=ALICE).all_text()
    assert "Retention 3 days → 4 days" in shown or "3 days → 4 days" in shown
    assert "Dev nightly" in shown
