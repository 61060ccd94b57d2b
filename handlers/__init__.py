"""Bolt listeners: they translate Slack payloads into domain calls and results into Block Kit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers import actions, commands, home, views

if TYPE_CHECKING:
    from bot.app import Dependencies


def register(app: App, deps: Dependencies) -> None:
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    home.register(app, deps)
