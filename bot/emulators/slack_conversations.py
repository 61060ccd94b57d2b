"""The Slack emulator's reads of a conversation: conversations.history, conversations.replies (a thread) and
conversations.open (the bot's direct message with a user), with Slack's published pagination and errors."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

# The scope a read of a conversation needs by the kind its ID names: public, private, direct message.
HISTORY_SCOPES = {"C": "channels:history", "G": "groups:history", "D": "im:history"}


def history(state: Any, args: dict[str, Any]) -> dict[str, Any]:
    """A channel's messages, newest first (thread replies are not among them), as they now read after any
    chat.update; between `oldest` and `latest` (exclusive unless `inclusive`), `limit` a page (100 by default,
    at most 999), pages by `cursor`. `metadata` only with `include_all_metadata`. Needs channels:history for a
    public channel, groups:history for a private one, im:history for a direct message. (`state`: a SlackState.)"""
    refused = _refused(state, args)
    if refused is not None:
        return refused
    channel = str(args["channel"])
    with state.lock:
        current = _current(state.events, channel)
    top = {ts: e for ts, e in current.items() if e.thread_ts is None}
    return _page(state, args, sorted(top.values(), key=lambda e: float(e.ts), reverse=True))


def replies(state: Any, args: dict[str, Any]) -> dict[str, Any]:
    """A thread: its parent message first, then its replies, oldest first; the replies between `oldest` and
    `latest` as conversations.history bounds them, paged by `limit` and `cursor`. `thread_not_found` when `ts`
    is no message of the channel; the same scopes as conversations.history."""
    refused = _refused(state, args)
    if refused is not None:
        return refused
    channel, ts = str(args["channel"]), str(args.get("ts") or "")
    if not ts:
        return {"ok": False, "error": "invalid_arguments"}
    with state.lock:
        current = _current(state.events, channel)
    parent = current.get(ts)
    if parent is None or parent.thread_ts is not None:
        return {"ok": False, "error": "thread_not_found"}
    thread = sorted((e for e in current.values() if e.thread_ts == ts), key=lambda e: float(e.ts))
    return _page(state, args, thread, first=parent)


def open_dm(state: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The bot's direct message with one user (`users`), opened if need be; needs im:write."""
    users = [u for u in str(args.get("users") or "").split(",") if u]
    if not users:
        return {"ok": False, "error": "users_list_not_supplied"}
    if "im:write" not in state.scopes:
        return {"ok": False, "error": "missing_scope", "needed": "im:write", "provided": ",".join(state.scopes)}
    if len(users) > 1:
        return {"ok": False, "error": "not_implemented"}  # a group DM: the bot never opens one
    if users[0] not in state.users:
        return {"ok": False, "error": "user_not_found"}
    return {"ok": True, "channel": {"id": state.dm_channel(users[0])}}


def _refused(state: Any, args: dict[str, Any]) -> dict[str, Any] | None:
    channel = str(args.get("channel") or "")
    if channel not in state.channels and channel not in {state.dm_channel(u) for u in state.users}:
        return {"ok": False, "error": "channel_not_found"}
    needed = HISTORY_SCOPES.get(channel[:1], "channels:history")
    if needed not in state.scopes:
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(state.scopes)}
    return None


def _current(events: Iterable[Any], channel: str) -> dict[str, Any]:
    """The channel's messages by ts, as they read after any chat.update."""
    current: dict[str, Any] = {}
    for event in events:
        if event.channel != channel or event.ts is None:
            continue
        if event.kind == "message":
            current[event.ts] = event
        elif event.kind == "update" and event.ts in current:
            current[event.ts] = replace(current[event.ts], text=event.text, blocks=event.blocks)
    return current


def _page(state: Any, args: dict[str, Any], ordered: list[Any], first: Any = None) -> dict[str, Any]:
    try:
        limit = min(int(args.get("limit") or 100), 999)
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or "inf")
        start = int(base64.b64decode(str(args["cursor"])).decode().removeprefix("next_ts:")) \
            if args.get("cursor") else 0
    except (ValueError, UnicodeDecodeError):
        return {"ok": False, "error": "invalid_cursor" if args.get("cursor") else "invalid_arguments"}
    inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
    with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
    shown = [e for e in ordered if (oldest <= float(e.ts) <= latest if inclusive else oldest < float(e.ts) < latest)]
    page = shown[start:start + max(limit, 1)]
    more = start + len(page) < len(shown)
    if first is not None and start == 0:
        page = [first, *page]
    messages = []
    for event in page:
        message: dict[str, Any] = {"type": "message", "user": state.bot_user_id, "bot_id": "B0BACKUPBOT",
                                   "app_id": "A0BACKUPBOT", "text": event.text, "ts": event.ts,
                                   "blocks": event.blocks, "team": state.team_id}
        if event.thread_ts is not None:
            message["thread_ts"] = event.thread_ts
        if with_metadata and event.metadata:
            message["metadata"] = event.metadata
        messages.append(message)
    cursor = base64.b64encode(f"next_ts:{start + len(page) - (first is not None and start == 0)}".encode()).decode() \
        if more else ""
    return {"ok": True, "messages": messages, "has_more": more, "pin_count": 0,
            "response_metadata": {"next_cursor": cursor}}
