"""Bolt's Socket Mode handler on slack_sdk's built-in client, with Slack's `disconnect` answered off the thread
that hands out envelopes, and a connection Slack's side ended without a close frame opened again at once.

Slack sends `disconnect` a few seconds before it closes a connection (a refresh, a warning) and keeps sending
envelopes on it meanwhile. slack_sdk opens the next connection on the one thread that hands every envelope to the
listeners, so while `apps.connections.open` is slow or rate limited (it sleeps Retry-After), the envelopes
arriving on the open connection wait, and their acks come past Slack's 3 seconds. Here the next connection is
opened on a thread of its own, one at a time, and the envelopes go on being acked on the open one.

A connection whose other end closed without a close frame (a TCP FIN, a TLS EOF: a proxy or a load balancer gone)
reads no bytes, at once, for ever: slack_sdk's reading loop took that as "nothing yet" and spun a CPU, deaf,
until its stale check some 50 s later. Here its end is raised as the reset it is, which slack_sdk's loop ends
the connection on, and the next one is opened at once.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode import SocketModeClient

from bot.runtime.slack_shape import body_problem

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


class Ended(ConnectionResetError):
    """Slack's side of the connection ended without a close frame."""


class EndTold:
    """A connection's socket whose end (no bytes from a read that waits for them) raises Ended."""

    def __init__(self, sock: Any):
        self.sock = sock

    def recv(self, size: int, *flags: int) -> bytes:
        data: bytes = self.sock.recv(size, *flags)
        if not data and size:
            raise Ended(errno.ECONNRESET, "Slack's side of the Socket Mode connection ended")
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class SocketClient(SocketModeClient):
    """slack_sdk's client whose `disconnect`, and a connection's end, open the next connection on a thread of its
    own."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.reconnecting = threading.Lock()
        self.on_error_listeners.append(self.ended)

    def connect(self) -> None:
        super().connect()
        session = self.current_session
        if session is not None and session.sock is not None and not isinstance(session.sock, EndTold):
            session.sock = EndTold(session.sock)  # type: ignore[assignment]  # read from its next turn on

    def enqueue_message(self, message: str) -> None:
        if is_disconnect(message):
            self.reconnect_soon()
            return
        super().enqueue_message(message)

    def run_message_listeners(self, message: dict[str, Any], raw_message: str) -> None:
        envelope_id, payload = message.get("envelope_id"), message.get("payload", {})
        if isinstance(envelope_id, str) and not isinstance(payload, (dict, str)):
            # slack_sdk raises on it, with a traceback, and never acks it: Slack would send it again, as unheard.
            log.warning("a Socket Mode envelope (%s, type %s) holds a payload of %s, not an object: acked and "
                        "ignored", envelope_id[:64], str(message.get("type"))[:64], type(payload).__name__)
            self.send_socket_mode_response({"envelope_id": envelope_id})
            return
        if isinstance(envelope_id, str) and not isinstance(message.get("type"), str):
            # slack_sdk hands an envelope without its type to no listener, and never acks it.
            log.warning("a Socket Mode envelope (%s) has no type: acked and ignored", envelope_id[:64])
            self.send_socket_mode_response({"envelope_id": envelope_id})
            return
        if isinstance(envelope_id, str) and isinstance(payload, dict) and (problem := body_problem(payload)):
            # Bolt reads a payload's team, user, channel and authorizations as it makes its request, before any
            # middleware, and raises on another type, with no ack.
            log.warning("a request not of a shape Slack sends is ignored: %s", problem)
            self.send_socket_mode_response({"envelope_id": envelope_id})
            return
        super().run_message_listeners(message, raw_message)

    def ended(self, error: Exception) -> None:
        if isinstance(error, Ended):
            log.warning("Slack's side of the Socket Mode connection ended without a close frame; opening another")
            self.reconnect_soon()

    def reconnect_soon(self) -> None:
        if self.reconnecting.acquire(blocking=False):  # one at a time: a second ask is the same
            threading.Thread(target=self.reconnect, name="socket-reconnect", daemon=True).start()

    def reconnect(self) -> None:
        try:
            if not self.closed:
                self.connect_to_new_endpoint(force=True)
        except Exception as exc:  # the client's own check (every PING_SECONDS) opens another
            log.error("Slack opened no new Socket Mode connection (%s); the client tries again within %d s",
                      type(exc).__name__, PING_SECONDS)
        finally:
            self.reconnecting.release()


class SocketHandler(SocketModeHandler):
    """Bolt's handler on SocketClient: Bolt's own client, made by its `__init__`, is closed before it connects."""

    def __init__(self, app: App, app_token: str):
        super().__init__(app, app_token=app_token, ping_interval=PING_SECONDS)
        self.client.close()
        self.client = SocketClient(app_token=app_token, logger=app.logger, web_client=app.client,
                                   proxy=app.client.proxy, ping_interval=PING_SECONDS)
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]
