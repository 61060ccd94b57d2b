"""Bolt listeners: they translate Slack payloads into domain calls and results into Block Kit."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, home, unknown, views, watch
from handlers.dependencies import Dependencies


def register(app: App, deps: Dependencies) -> None:
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    home.register(app, deps)
    watch.register(app, deps)
    unknown.register(app, deps)
