"""What `serve`'s processes, `socket` and `watch` start with: logging, the sweep and the watch, and an end that
does not wait for the work still running."""

from __future__ import annotations

import logging
import sys
from functools import partial
from typing import TYPE_CHECKING

from bot.runtime.settings import Settings

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.runtime.sweeper import InboxKeeper, Sweeper
    from bot.runtime.watch import Watcher
    from handlers.dependencies import Dependencies


def configure_logging(settings: Settings, quiet: bool = False, server: bool = True) -> None:
    from bot.runtime import logs

    level = "WARNING" if quiet and settings.log_level == "INFO" else settings.log_level
    log_format = settings.log_format or ("json" if server else "text")
    logs.configure(settings.secrets(), level=level, json_lines=log_format == "json", unblocking=server)


def tell_unknown_names(settings: Settings) -> None:
    """Each BACKUP_BOT_ name the environment sets that no setting has, logged as the process starts."""
    for line in settings.unknown_names:
        logging.getLogger("bot.runtime.settings").warning("%s", line)


def exit_now(status: int = 0) -> None:
    """Ends the process without waiting for the work still running (its threads would be joined at exit)."""
    import os

    logging.shutdown()
    sys.stdout.flush()
    os._exit(status)


def start_sweeper(deps: Dependencies, app: App, settings: Settings, start: bool = True,
                  socket_mode: bool = False) -> Sweeper:
    """`socket_mode`: this instance takes Slack's envelopes over Socket Mode, and redoes those another left."""
    from slack_sdk.signature import SignatureVerifier

    from bot.adapters.store.inbox import Inbox
    from bot.runtime.app import redo
    from bot.runtime.lost_work import tell_lost
    from bot.runtime.sweeper import INBOX_GIVE_UP, InboxKeeper

    inbox = getattr(deps.background, "inbox", None)  # a TrackedExecutor's
    secret = settings.slack_signing_secret
    done = getattr(deps.background, "done", None)  # a TrackedExecutor's
    keeper = InboxKeeper(inbox, partial(redo, app, verifier=SignatureVerifier(secret) if secret else None,
                                        done=done, again=True, socket_mode=socket_mode),
                         unsigned=socket_mode or not secret,
                         lost=partial(tell_lost, app.client, deps.store.record, minutes=INBOX_GIVE_UP / 60))\
        if isinstance(inbox, Inbox) else None
    sweeper = make_sweeper(deps, app.client, inbox=keeper)
    return sweeper.start() if start else sweeper


def make_sweeper(deps: Dependencies, client: WebClient, inbox: InboxKeeper | None = None) -> Sweeper:
    """The sweep as `serve` runs it, with its steps in their order: the requests' (each told as a click's step
    is), the late posts of open requests, the bulk changes' own."""
    from bot.runtime.sweeper import Sweeper
    from handlers.asked import post_unposted
    from handlers.bulk_posting import sweep_batches, sweep_reporter

    return Sweeper(deps.changes, sweep_reporter(deps, client), forget_deliveries=deps.store.forget_deliveries,
                   late_posts=partial(post_unposted, deps, client), batches=partial(sweep_batches, deps, client),
                   inbox=inbox)


def start_watcher(deps: Dependencies, client: WebClient, settings: Settings, start: bool = True) -> Watcher | None:
    """The watch in the background, unless BACKUP_BOT_WATCH_EVERY is off (`start` False: made, not started)."""
    from bot.runtime.watch import build_watcher

    if settings.watch_every is None:
        return None
    watcher = build_watcher(deps, client, settings.watch_every)
    return watcher.start() if start else watcher
