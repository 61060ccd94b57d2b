"""Slack's Web API and response URLs over kept-alive connections.

slack_sdk's synchronous clients open a new connection for every call: a TCP and a TLS handshake with
slack.com before each `chat.postMessage`, `chat.update`, `views.*` and response URL post, one to three extra
round trips on every answer a person waits for. These subclasses send the same requests through one shared
pool of kept-alive connections instead. Everything else stays slack_sdk's: the request it builds, its retry
handlers and its errors, because a failed request is raised as the exception urllib would have raised.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from email.message import Message
from http.client import HTTPException, HTTPMessage, RemoteDisconnected
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

from slack_bolt import Respond
from slack_bolt.context.respond.internals import _build_message
from slack_sdk import WebClient
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot.adapters.keepalive import ConnectFailed, KeepAlivePool


class SlackConnections:
    """One pool of kept-alive connections for every call to Slack, shared by all threads."""

    def __init__(self, timeout: float = 10.0):
        self.timeout = timeout
        self.pool = KeepAlivePool(timeout=timeout)

    def send(self, request: Request) -> tuple[int, HTTPMessage, str]:
        """Send a request slack_sdk built for urllib: (status, headers, text), or what urllib raises."""
        body = request.data if isinstance(request.data, bytes) else None  # slack_sdk always sends bytes
        try:
            status, reason, headers, data = self.pool.request(request.get_method(), request.full_url, body,
                                                              request.header_items())
        except ConnectFailed as exc:
            raise URLError(exc.reason) from None  # as urlopen raises it, and slack_sdk retries it
        except (TimeoutError, RemoteDisconnected, ConnectionResetError):
            raise  # as urllib raises them: slack_sdk's ConnectionErrorRetryHandler knows the last two
        except (OSError, HTTPException) as exc:
            raise URLError(exc) from None
        text = data.decode(_charset(headers))
        if status >= 400:
            raise HTTPError(request.full_url, status, reason, headers, io.BytesIO(data))
        return status, headers, text

    def close(self) -> None:
        self.pool.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> SlackConnections:
        # Shared by every thread on purpose. Bolt deep-copies a request's context for each lazy listener, the
        # client with it; a copy of the pool (its lock cannot be copied) would be neither possible nor wanted.
        return self


def _charset(headers: Message) -> str:
    return headers.get_content_charset() or "utf-8"


class PooledWebClient(WebClient):
    def __init__(self, *args: Any, connections: SlackConnections, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.connections = connections

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        status, headers, text = self.connections.send(req)
        return {"status": status, "headers": headers, "body": text}


class PooledWebhookClient(WebhookClient):
    def __init__(self, url: str, connections: SlackConnections):
        super().__init__(url=url, timeout=int(connections.timeout))
        self.connections = connections

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        status, headers, text = self.connections.send(req)
        return WebhookResponse(url=url, status_code=status, body=text, headers=dict(headers.items()))


class PooledRespond(Respond):
    """Bolt's `respond`, posting to the response URL through the shared pool."""

    def __init__(self, response_url: str, connections: SlackConnections):
        super().__init__(response_url=response_url)
        self.url = response_url
        self.connections = connections

    def __call__(
        self,
        text: str | dict[Any, Any] = "",
        blocks: Sequence[dict[Any, Any] | Block] | None = None,
        attachments: Sequence[dict[Any, Any] | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        message = _build_message(**text) if isinstance(text, dict) else _build_message(
            text=text, blocks=blocks, attachments=attachments, response_type=response_type,
            replace_original=replace_original, delete_original=delete_original, unfurl_links=unfurl_links,
            unfurl_media=unfurl_media, thread_ts=thread_ts, metadata=metadata)
        return PooledWebhookClient(self.url, self.connections).send_dict(message)
