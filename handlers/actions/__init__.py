from __future__ import annotations

from slack_bolt import App

from handlers.actions import batches, requests
from handlers.dependencies import Dependencies


def register(app: App, deps: Dependencies) -> None:
    requests.register(app, deps)
    batches.register(app, deps)
