"""`history` tells the watch's findings about a policy's backups in words, as it tells every other entry: it
showed the entry's action name ("the bot *backup unhealthy*")."""

from __future__ import annotations

from approval_helpers import ALICE, PROD
from approval_helpers import approvals_bot as approvals_bot  # the fixture
from conftest import Bot
from watch_helpers import watched as watched  # the fixture

from bot.emulators.planetscale_state import PlanetScaleState
from bot.runtime.watch import Watcher


def test_history_says_the_backups_were_found_failing_and_healthy_again(
        watched: tuple[Bot, Watcher], planetscale: PlanetScaleState) -> None:
    bot, watcher = watched
    watcher.run_once()
    planetscale.fail_backup("acme", "app-db", PROD)
    watcher.run_once()
    with planetscale.lock:
        planetscale.add_backup("acme", "app-db", PROD, state="success")
    watcher.run_once()
    said = bot.command("history acme/app-db", user=ALICE).all_text()
    assert "backup unhealthy" not in said and "backup recovered" not in said, said
    assert "the watch found backups failing" in said and "the watch found backups healthy again" in said, said
