"""What a bot opens, its stop closes: made and stopped again and again in one process (as the test suite does),
it leaves no descriptor and no thread behind. CI's one pytest process once held over 1024 descriptors (select()
refused one): each bot's connection to Slack, kept by a thread that never ended."""

from __future__ import annotations

import os
import threading
import time
import weakref
from functools import partial
from pathlib import Path

import pytest
from conftest import OPEN_RULES, AuditReader, Bot

from bot.adapters.store import Store
from bot.domain.access_file import StaticRules
from bot.domain.access_rules import parse_rules
from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState
from bot.runtime.app import build_app, build_dependencies
from bot.runtime.executor import TrackedExecutor
from bot.runtime.lifecycle import drain
from bot.runtime.reminders import Reminders
from bot.runtime.settings import Settings

LIVES = 8


def descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_a_bot_made_and_stopped_again_and_again_leaves_no_descriptor_or_thread_behind(
        settings: Settings, slack: SlackState, planetscale: PlanetScaleState,
        slack_server: tuple[SlackEmulator, BackgroundServer], tmp_path: Path) -> None:

    def one_life(n: int) -> None:
        store = Store(f"sqlite:///{tmp_path / f'bot{n}.db'}")
        store.migrate()
        executor = TrackedExecutor()
        # As `socket` and `serve` make theirs: PlanetScale's client too, which the bot opens itself.
        deps = build_dependencies(settings, store=store, background=executor,
                                  rules=StaticRules(parse_rules(OPEN_RULES)))
        bot = Bot(build_app(settings, deps), deps, executor, slack, slack_server[1].url, AuditReader(store))
        assert "bp01prod12h" in bot.command("list acme/app-db").all_text()
        assert f"{n + 2} days" in bot.command(f"update acme/app-db bp03devday retention={n + 2}d").all_text()
        assert drain(executor, None, None, deps, timeout=10) == 0  # as SIGTERM stops them

    one_life(0)  # the first loads what lives as long as the process
    open_before, threads_before = descriptors(), threading.active_count()
    for n in range(1, LIVES):
        one_life(n)
    # The emulator, in this process, closes its end of each connection once the bot has closed its own, and the
    # threads told to end do so in their time: waited for, below the 30 s an idle head thread would stay.
    deadline = time.monotonic() + 20
    while (descriptors() > open_before or threading.active_count() > threads_before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (descriptors(), threading.active_count()) <= (open_before, threads_before), \
        [t.name for t in threading.enumerate()]


def test_a_cancelled_reminder_is_let_go_at_once_and_its_thread_ends_with_nothing_due() -> None:
    reminders, called = Reminders(), threading.Event()

    class Held:
        """What a reminder holds: a person's `respond`, Slack's pool."""

    held = Held()
    kept = weakref.ref(held)
    reminders.cancel(reminders.at(3600, partial(print, held)))
    del held
    assert kept() is None  # not kept for the hour it would have waited
    reminders.at(0.01, called.set)
    assert called.wait(60)
    deadline = time.monotonic() + 60
    while reminders._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reminders._thread is None  # nothing due: no thread left waiting
    reminders.at(3600, called.set)
    assert reminders._thread is not None
    reminders.stop()
    assert reminders._thread is None


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_an_access_file_that_is_a_folder_is_refused_without_a_descriptor_left_open(tmp_path: Path) -> None:
    from bot.runtime.app import load_access_rules
    from bot.runtime.settings import SettingsError

    open_before = descriptors()
    for _ in range(LIVES):
        with pytest.raises(SettingsError, match="cannot be read"):
            load_access_rules(str(tmp_path))
    assert descriptors() == open_before
