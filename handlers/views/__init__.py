from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers.views import edit

if TYPE_CHECKING:
    from bot.app import Dependencies


def register(app: App, deps: Dependencies) -> None:
    edit.register(app, deps)
