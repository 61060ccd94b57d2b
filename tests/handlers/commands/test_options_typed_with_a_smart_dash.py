"""Slack on a Mac (and phones) with smart punctuation turns the `--` of `--dry-run` and `--where` into a dash,
`—` or `–`, as it turns straight quotes into curly ones, which the bot reads as quotes. The dash was refused with
a misleading fix: "changes are written key=value", and for `create` the advice to name the policy `—dry-run`.
An option typed with a smart dash is now read as the option; a word that only starts with one is refused as
before. Through Bolt on SQLite and PostgreSQL; nothing is sent to PlanetScale by a dry run."""

from __future__ import annotations

import pytest
from approval_helpers import ALICE, approvals_bot
from conftest import Bot

from bot.emulators.planetscale import PlanetScaleState

__all__ = ["approvals_bot"]  # a fixture, used by name

DRY_RUNS = {
    "update-em-dash": 'update acme/app-db "Production daily" retention=7d —dry-run',
    "update-en-dash": 'update acme/app-db "Production daily" retention=7d –dry-run',
    "create": 'create acme/app-db name="Nightly" target=development retention=7d frequency=1d at=02:00 —dry-run',
    "delete": 'delete acme/app-db "Development daily" —dry-run',
    "bulk-where": 'update acme/* * —where target=production retention=7d —dry-run',
}


@pytest.mark.parametrize("command", DRY_RUNS.values(), ids=DRY_RUNS.keys())
def test_an_option_typed_with_a_smart_dash_is_the_option(approvals_bot: Bot, planetscale: PlanetScaleState,
                                                         command: str) -> None:
    reply = approvals_bot.command(command, user=ALICE)
    said = reply.all_text()
    assert "Dry run" in said and "Unexpected" not in said, said
    assert reply.public == [], said
    assert [c for c in planetscale.calls() if c.method != "GET"] == []


def test_the_smart_dashed_where_keeps_to_its_target(approvals_bot: Bot) -> None:
    said = approvals_bot.command("update acme/* * —where target=production retention=7d —dry-run").all_text()
    assert "Development daily" not in said and "Production daily" in said, said


def test_a_word_that_only_starts_with_a_smart_dash_is_still_refused(approvals_bot: Bot,
                                                                    planetscale: PlanetScaleState) -> None:
    said = approvals_bot.command('update acme/app-db "Production daily" retention=7d —fast').all_text()
    assert "Unexpected `—fast`" in said, said
    assert [c for c in planetscale.calls() if c.method != "GET"] == []
