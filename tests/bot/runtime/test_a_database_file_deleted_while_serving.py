"""The SQLite file deleted or replaced under a running bot (a clean-up of old files, a restore copied over it):
its open connections went on writing to the file no longer there, `/healthz` said ok, and every request and
approval acked meanwhile was gone at the next start, which found no file, or another one. The bot refuses to
record anything once its file is not the one it opened, and says so to the person and at `/healthz`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Bot, make_bot

from bot.adapters.store import Store
from bot.emulators.planetscale import PlanetScaleState
from bot.emulators.slack import SlackState
from bot.runtime.app import health_report


@pytest.fixture
def on_a_file(settings: Any, slack: SlackState, planetscale_client: Any, tmp_path: Path,
              slack_server: Any) -> Iterator[tuple[Bot, Path]]:
    path = tmp_path / "bot.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    yield from ((bot, path) for bot in make_bot(settings, slack, planetscale_client, store, slack_server))
    store.close()


def deleted(path: Path) -> None:
    path.unlink()


def replaced(path: Path) -> None:
    """Another copy of the database (a backup restored) moved over it."""
    shutil.copyfile(path, path.with_suffix(".copy"))
    os.replace(path.with_suffix(".copy"), path)


@pytest.mark.parametrize("change", [deleted, replaced])
def test_a_request_asked_once_the_file_is_gone_is_refused_in_words_and_healthz_says_why(
    on_a_file: tuple[Bot, Path], slack: SlackState, planetscale: PlanetScaleState, change: Any
) -> None:
    bot, path = on_a_file
    bot.command('update acme/app-db "Production daily" retention=5d')
    asked = [e for e in slack.events if e.kind == "message"]
    sent = planetscale.calls("PATCH")
    assert len(asked) == len(sent) == 1  # applied at once (no approval asked by these rules)
    change(path)
    reply = bot.command('update acme/app-db "Production daily" retention=9d')
    said = " ".join(e.text for e in reply.private)
    assert "deleted or replaced" in said and "try again" in said, said
    assert [e for e in slack.events if e.kind == "message"] == asked, "a change was told that nothing kept"
    assert planetscale.calls("PATCH") == sent, "a change was sent to PlanetScale that no audit entry keeps"
    # The connections opened from now on find a new file, or the copy; one still open keeps the first one's
    # inode, as the pool's do in `serve`.
    with bot.deps.store.engine.connect():
        bot.deps.store.engine.dispose()
        assert "deleted or replaced" in " ".join(
            e.text for e in bot.command('update acme/app-db "Production daily" retention=9d').private)
    report = health_report(bot.deps)
    assert report["status"] == "unavailable", report
    assert "deleted or replaced" in report["database"], report
