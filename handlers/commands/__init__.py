from __future__ import annotations

from slack_bolt import App

from handlers.commands import backup_policy
from handlers.dependencies import Dependencies


def register(app: App, deps: Dependencies) -> None:
    backup_policy.register(app, deps)
