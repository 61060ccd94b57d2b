"""Buttons and forms no listener takes: from an older release of the bot, or not the bot's. Slack would show the
person a warning (a 404) and nothing else; they hear, to them alone, that nothing was done and what to do."""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any

from slack_bolt import Ack, App, Respond

from handlers import blocks
from handlers.dependencies import Dependencies
from handlers.posting import has_response_url, say_privately

log = logging.getLogger(__name__)

ANY = re.compile(r".*", re.DOTALL)
OLD_BUTTON = ("This button is not one this app knows (it may be from an older release of the bot), so nothing was "
              "done. Run `/backup-policy pending` or `/backup-policy help` to find what you can do now.")
OLD_FORM = ("This form is not one this app knows (it may be from an older release of the bot), so nothing was "
            "sent. Close it and start again with `/backup-policy`.")


def on_unknown_action(deps: Dependencies, ack: Ack, action: dict[str, Any], respond: Respond) -> None:
    ack()
    log.warning("a click on %r, which no listener takes", str(action.get("action_id"))[:64])
    if has_response_url(respond):  # an App Home's click has none: its Home shows what is current
        deps.background.run_promptly(say_privately, respond, blocks.error_text(OLD_BUTTON))


def on_unknown_view(ack: Ack, view: dict[str, Any]) -> None:
    log.warning("a form %r submitted, which no listener takes", str(view.get("callback_id"))[:64])
    ack(response_action="update", view=blocks.message_view("Nothing was sent", blocks.error_text(OLD_FORM)))


def register(app: App, deps: Dependencies) -> None:
    """Registered last: Bolt tries the listeners in order, and these take whatever the others did not."""
    app.action(ANY)(partial(on_unknown_action, deps))
    app.view(ANY)(on_unknown_view)
