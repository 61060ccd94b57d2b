"""The README tells, in the bot's own words, what a person sees when a new name is taken by a lookalike or by
another policy's ID, when a required policy is asked to move, and when a bulk change's estimates pass their cap:
each quoted message is in the README and is what the bot answers, through Bolt's pipeline on SQLite and
PostgreSQL (the cap's answer: test_bulk_estimate_cap.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.domain.bulk_costs import ReadsSpent

__all__ = ["approvals_bot"]  # a fixture, used by name

README = " ".join((Path(__file__).resolve().parents[3] / "README.md").read_text().split())

SAID = {
    # A no-break space: read as the plain space of "Development daily" (bp03devday).
    'create acme/app-db name="Development\u00a0daily" target=development retention=7d frequency=1d at=02:00':
        "app-db already has a policy named “Development\u00a0daily” (`bp03devday`): choose another name",
    'update acme/app-db bp03devday name="bp02prodwk"':
        "“bp02prodwk” is the ID of another policy of app-db, and commands find a policy by its ID first: choose "
        "another name",
    'update acme/app-db "Production daily" target=development':
        "it is a required system policy, which PlanetScale never moves from production: change its schedule instead",
}


@pytest.mark.parametrize("command", SAID, ids=["lookalike-name", "another-policys-id", "required-policy-moved"])
def test_the_readme_quotes_what_the_bot_answers(approvals_bot: Bot, command: str) -> None:
    answer = approvals_bot.command(command, user=ALICE).all_text()
    assert SAID[command] in answer, answer
    assert "Nothing was sent to PlanetScale" in answer, answer
    assert " ".join(SAID[command].replace("\u00a0", " ").split()) in README, SAID[command]


def test_the_readme_states_the_bulk_estimate_cap_as_the_bot_says_it() -> None:
    line = f"storage not estimated: its backups were not read ({ReadsSpent().user_message})"
    assert line in README, line
