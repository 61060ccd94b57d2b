"""Work the inbox gave up on (bot/runtime/sweeper.py `InboxKeeper`): acked, its instance stopped, and nobody redid
it within INBOX_GIVE_UP. The person who asked is told, from the stored request, and the trail records it; nothing
of it is sent to PlanetScale."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.adapters.slack_http import KeptAliveRespond, SlackClient
from bot.adapters.slack_shapes import UnreadableAnswer, refused_with
from bot.adapters.store.inbox import SOCKET_MODE
from bot.domain.audit import AuditEvent
from handlers import channel_history

log = logging.getLogger(__name__)

LOST = ("Your request{what} was received, but the bot instance working on it stopped before finishing it, and no "
        "other instance could take it over within {minutes:.0f} minutes. Nothing was sent to PlanetScale for it. "
        "Please try again.")


@dataclass(frozen=True)
class Asker:
    """Who asked, where, and what, as a stored request from Slack says."""

    user: str | None
    channel: str | None
    response_url: str | None
    asked: str


def asker_of(payload: str) -> Asker:
    """Reads a stored inbox payload (bot/runtime/app.py `inbox_payload`): a slash command's form, an interaction's
    `payload` field, or an event's JSON; or Socket Mode's body as it came."""
    try:
        stored = json.loads(payload)
        body = stored[SOCKET_MODE] if SOCKET_MODE in stored else _parsed(stored["body"])
    except (ValueError, KeyError, TypeError):
        return Asker(None, None, None, "")
    if not isinstance(body, dict):
        return Asker(None, None, None, "")
    if isinstance(body.get("payload"), str):  # an interaction's form
        try:
            body = json.loads(body["payload"])
        except ValueError:
            return Asker(None, None, None, "")
        if not isinstance(body, dict):
            return Asker(None, None, None, "")
    event: dict[str, Any] = body["event"] if isinstance(body.get("event"), dict) else {}
    user = body.get("user_id") or _id(body.get("user")) or event.get("user")
    channel = body.get("channel_id") or _id(body.get("channel")) or event.get("channel")
    urls = body.get("response_urls")
    response_url = body.get("response_url") or (urls[0].get("response_url") if isinstance(urls, list) and urls
                                                and isinstance(urls[0], dict) else None)
    asked = f"{body['command']} {body.get('text') or ''}".strip() if isinstance(body.get("command"), str) else ""
    return Asker(_text(user), _text(channel), _text(response_url), asked)


def _parsed(body: str) -> object:
    if body.lstrip().startswith("{"):
        return json.loads(body)
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}


def _id(value: object) -> object:
    return value.get("id") if isinstance(value, dict) else value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def tell_lost(client: WebClient, record: Callable[[AuditEvent], None], payload: str, minutes: float) -> None:
    """Tells the person who asked, in words, that their request was given up and to try again (an ephemeral
    message where they asked, else the request's response URL, else a direct message), and records it on the
    audit trail, saying whether anyone was told."""
    asker = asker_of(payload)
    text = LOST.format(what=f" `{asker.asked[:200]}`" if asker.asked else "", minutes=minutes)
    told = False
    if asker.user and asker.channel:
        try:
            client.chat_postEphemeral(channel=asker.channel, user=asker.user, text=text)
            told = True
        except UnreadableAnswer:  # answered 200: taken, as far as anyone can tell; not said twice
            log.warning("inbox: Slack answered chat.postEphemeral to %s with an answer the bot cannot read; taken as "
                        "told", asker.user)
            told = True
        except SlackApiError as exc:  # its answer is read for nothing else
            log.warning("inbox: could not tell %s of their lost request in %s: Slack answered chat.postEphemeral "
                        "with %s", asker.user, asker.channel, refused_with(exc.response))
        except Exception as exc:
            log.warning("inbox: could not tell %s of their lost request in %s: %s", asker.user, asker.channel,
                        type(exc).__name__)
    if not told and asker.response_url and isinstance(client, SlackClient):
        try:
            # Past INBOX_GIVE_UP the URL is likely past its 30 minutes: its 404 tells nobody.
            answer = KeptAliveRespond(asker.response_url, client.http)(text=text, response_type="ephemeral")
            told = answer.status_code == 200
            if not told:
                log.warning("inbox: the response URL of a lost request did not take its notice (HTTP %s)",
                            answer.status_code)
        except Exception:
            log.warning("inbox: could not tell the person of their lost request at its response URL")
    if not told and asker.user:
        try:  # a user ID: the bot's direct message with them, where no ephemeral message reaches them
            channel_history.post_directly(client, asker.user, text, what="the notice of a lost request")
            told = True
        except Exception as exc:
            log.warning("inbox: could not tell %s of their lost request in a direct message either: %s", asker.user,
                        refused_with(exc.response) if isinstance(exc, SlackApiError) else type(exc).__name__)
    record(AuditEvent(action="lost", actor=asker.user or "", organization="", database="",
                            channel=asker.channel, reason=f"lost after {minutes:.0f} min: nobody redid it",
                            detail=(asker.asked[:500] or None) if told else f"{asker.asked[:500]} (not told)"))
