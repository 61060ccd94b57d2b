from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers.commands import backup_policy

if TYPE_CHECKING:
    from bot.app import Dependencies


def register(app: App, deps: Dependencies) -> None:
    backup_policy.register(app, deps)
