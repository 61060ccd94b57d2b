"""The service token's accesses as PlanetScale's spec grants them (each operation's "Service Token Accesses"): the
branch list takes `read_branch` (or another branch access), not `read_database`; the database list and one database
take any database, branch or backup access. A token set up as the bot's messages say is enough, through Bolt's
pipeline; one without `read_branch` is told so by name."""

from __future__ import annotations

import json

from conftest import Bot

from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState


def token_with(planetscale: PlanetScaleState, *accesses: str) -> None:
    with planetscale.lock:
        planetscale.tokens.clear()
    planetscale.grant(DEMO_TOKEN_ID, DEMO_TOKEN, "acme", accesses=accesses)


def said(bot: Bot, text: str) -> str:
    reply = bot.command(text)
    assert reply.ack == {} and reply.public == []
    return json.dumps([e.blocks or e.text for e in reply.private], ensure_ascii=False)


def test_status_reads_every_branch_with_read_branch_and_read_backups_alone(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    token_with(planetscale, "read_backups", "write_backups", "read_branch")
    answer = said(bot, "status acme/app-db")
    assert "3 policies, all healthy" in answer, answer


def test_a_token_without_read_branch_cannot_list_branches_and_is_told_the_access_it_lacks(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    token_with(planetscale, "read_backups", "write_backups", "read_database")
    answer = said(bot, "status acme/app-db")
    assert "all healthy" not in answer
    assert "read_branch" in answer, answer


def test_an_export_glob_lists_the_databases_with_backup_accesses_alone(
    bot: Bot, planetscale: PlanetScaleState
) -> None:
    token_with(planetscale, "read_backups", "write_backups")
    answer = said(bot, "export acme/* json")
    assert "of 2 databases" in answer, answer
