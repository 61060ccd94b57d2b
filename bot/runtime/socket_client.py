"""Bolt's Socket Mode handler on slack_sdk's built-in client, with Slack's `disconnect` answered off the thread
that hands out envelopes.

Slack sends `disconnect` a few seconds before it closes a connection (a refresh, a warning) and keeps sending
envelopes on it meanwhile. slack_sdk opens the next connection on the one thread that hands every envelope to the
listeners, so while `apps.connections.open` is slow or rate limited (it sleeps Retry-After), the envelopes
arriving on the open connection wait, and their acks come past Slack's 3 seconds. Here the next connection is
opened on a thread of its own, one at a time, and the envelopes go on being acked on the open one.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode import SocketModeClient

log = logging.getLogger(__name__)

# Bolt's handler's own, between two pings of a connection.
PING_SECONDS = 10


def is_disconnect(message: str) -> bool:
    if '"disconnect"' not in message:  # an envelope is read only once, by the listeners
        return False
    try:
        parsed = json.loads(message)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("type") == "disconnect"


class SocketClient(SocketModeClient):
    """slack_sdk's client whose `disconnect` opens the next connection on a thread of its own."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.reconnecting = threading.Lock()

    def enqueue_message(self, message: str) -> None:
        if is_disconnect(message):
            if self.reconnecting.acquire(blocking=False):  # one refresh at a time: a second one is the same
                threading.Thread(target=self.reconnect, name="socket-reconnect", daemon=True).start()
            return
        super().enqueue_message(message)

    def reconnect(self) -> None:
        try:
            if not self.closed:
                log.info("Slack asked for a new Socket Mode connection; opening it")
                self.connect_to_new_endpoint(force=True)
        except Exception as exc:  # the open connection stays; once Slack closes it, the client opens another
            log.error("Slack asked for a new Socket Mode connection and opened none (%s); the one open is kept",
                      type(exc).__name__)
        finally:
            self.reconnecting.release()


class SocketHandler(SocketModeHandler):
    """Bolt's handler on SocketClient: its `__init__` is Bolt's, which would start a client of its own."""

    def __init__(self, app: App, app_token: str):  # noqa: the parent's __init__ would make another client
        self.app, self.app_token = app, app_token
        self.client = SocketClient(app_token=app_token, logger=app.logger, web_client=app.client,
                                   proxy=app.client.proxy, ping_interval=PING_SECONDS)
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]
