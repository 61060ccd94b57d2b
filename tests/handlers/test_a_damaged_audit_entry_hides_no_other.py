"""One audit entry whose JSON text was damaged in the database (SQLite keeps whatever text a hand or a broken disk
wrote; PostgreSQL's json type refuses it at the door) hides no other: `history` and every App Home that shows the
latest changes still show the rest, through Bolt's real pipeline."""

from __future__ import annotations

import json

import sqlalchemy as sa
from conftest import Bot
from home_helpers import open_home

from bot.emulators.planetscale_state import PlanetScaleState

ALICE = "U0ALICE001"


def damage_the_first_entry(bot: Bot) -> None:
    engine = sa.create_engine(bot.deps.store.url)
    with engine.begin() as conn:
        seq = conn.execute(sa.text("select min(seq) from audit_events where action = 'applied'")).scalar_one()
        conn.execute(sa.text("update audit_events set before = '{\"retention_value\": 2' where seq = :seq"),
                     {"seq": seq})
    engine.dispose()


def test_history_shows_the_entries_beside_a_damaged_one(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.command("update acme/app-db bp03devday retention=5d")
    bot.command("update acme/app-db bp03devday retention=6d")
    damage_the_first_entry(bot)
    said = bot.command("history acme/app-db").all_text()
    assert "Something went wrong" not in said, said
    assert "6 days" in said, said


def test_the_app_home_shows_the_latest_changes_beside_a_damaged_one(bot: Bot, planetscale: PlanetScaleState) -> None:
    bot.command("update acme/app-db bp03devday retention=5d")
    bot.command("update acme/app-db bp03devday retention=6d")
    damage_the_first_entry(bot)
    home = json.dumps(open_home(bot, ALICE), ensure_ascii=False)
    assert "Latest changes you may see" in home, home
    assert "6 days" in home, home
