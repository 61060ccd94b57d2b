from __future__ import annotations

from slack_bolt import App

from handlers.dependencies import Dependencies
from handlers.views import bulk_edit, create, edit


def register(app: App, deps: Dependencies) -> None:
    edit.register(app, deps)
    create.register(app, deps)
    bulk_edit.register(app, deps)
