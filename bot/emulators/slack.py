"""An emulator of the part of Slack's Web API this bot calls, plus the `response_url` endpoints.

It answers as Slack does (`{"ok": false, "error": "…"}` with HTTP 200, 429 with `Retry-After`), checks the bot
token, refuses what Slack refuses in messages and views (`block_kit.py`: `invalid_blocks` and `invalid_arguments`
naming each problem, `view_too_large` past 250 KB; each refusal is also kept in `refusals`), enforces the
`trigger_id` rules (valid 3 seconds, once), answers with faults (`MethodFault`: an error, a status, a delay, broken
headers, a body of the test's choosing with HTTP 200, as Slack answers, or the usual work done and its answer
garbled), and keeps every message, ephemeral message, response and view in one ordered `events` list that the
console renders and tests assert on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.emulators import slack_conversations
from bot.emulators.block_kit import Refusal, check_message, check_posted, check_view, too_large

TRIGGER_TTL_SECONDS = 3.0
HELD_AT_MOST = 60.0  # a gated answer (`MethodFault.until`) never set answers after this
# Queued in `socket_outbox`: the emulator closes the Socket Mode connection there, as Slack does at times.
CLOSE: dict[str, Any] = {"type": "__close__"}


@dataclass
class SlackEvent:
    """Something the bot made visible: kind is message, ephemeral, response, update, view_open, view_update."""

    kind: str
    channel: str | None = None
    user: str | None = None
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ts: str | None = None
    view: dict[str, Any] | None = None
    response_type: str | None = None
    replace_original: bool = False
    thread_ts: str | None = None  # a reply in the thread under the message with this ts
    response_key: str | None = None  # for a response, the last part of its response URL
    metadata: dict[str, Any] | None = None  # a message's `metadata` (event_type, event_payload), as posted
    at: float = field(default_factory=time.perf_counter)  # when it reached Slack


@dataclass
class SlackUser:
    id: str
    name: str
    real_name: str
    email: str
    is_bot: bool = False
    deleted: bool = False  # deactivated: users.info still answers, with `deleted: true`


@dataclass
class MethodFault:
    method: str
    error: str | None = None  # an `ok: false` error, e.g. "channel_not_found"
    status: int | None = None  # an HTTP status, e.g. 429 or 500
    retry_after: int | None = None
    times: int | None = 1
    delay: float = 0.0  # seconds before Slack answers; with neither error nor status, the answer is the usual one
    # Headers of a broken answer: with them, the usual answer's body under them (e.g. a `Content-Encoding` it
    # does not have).
    headers: dict[str, str] | None = None
    in_thread: bool | None = None  # only replies in a thread (True), only top-level messages (False), or both
    skip: int = 0  # calls it matches that are answered as usual before it strikes
    channel: str | None = None  # only calls to this channel (e.g. one the bot is not in); None: any
    # The answer's JSON body as given, with HTTP 200 as Slack answers (`ok: true` or `ok: false` inside it): an
    # answer of shapes the bot must not trust, e.g. {"ok": True, "user": "U0ALICE001"}.
    body: Any = None
    # A gate the answer waits for (at most HELD_AT_MOST seconds) after its delay: a test lets Slack answer once
    # the steps it stands for have happened, not after a time that a loaded machine may outrun.
    until: threading.Event | None = None
    # Set once a call held by `until` is answered: a test waits on it, not on a time, for what Slack took.
    carried_out: threading.Event = field(default_factory=threading.Event)
    # The method acts as usual, and its answer is these bytes instead (under `headers`, when given), with HTTP
    # 200: an answer cut short or replaced on its way (a proxy's page), after Slack did what it was asked.
    garbled: bytes | None = None
    # The HTTP status `garbled` comes under: a proxy's 502 after Slack acted, say.
    garbled_status: int = 200

    def matches(self, method: str, args: dict[str, Any]) -> bool:
        return (self.method == method and (self.times is None or self.times > 0)
                and (self.in_thread is None or self.in_thread == bool(args.get("thread_ts")))
                and (self.channel is None or self.channel == args.get("channel")))


class SlackState:
    def __init__(self, bot_token: str, team_id: str = "T0DEMO0001", app_token: str | None = None):
        self.lock = threading.Lock()
        self.bot_token = bot_token
        self.app_token = app_token
        # Socket Mode: envelopes waiting to be sent to a connected app, the acks it sent back, connections made.
        # Envelopes, raw frames (text as is), or CLOSE.
        self.socket_outbox: list[dict[str, Any] | str | bytes] = []
        self.socket_acks: list[dict[str, Any]] = []
        self.socket_connections = 0
        self.team_id = team_id
        self.bot_user_id = "U0BACKUPBOT"
        self.scopes = ["commands", "chat:write", "chat:write.public", "users:read", "users:read.email",
                       "usergroups:read", "channels:read", "groups:read", "channels:history", "groups:history",
                       "im:write", "im:history"]
        self.channels: dict[str, str] = {}
        self.users: dict[str, SlackUser] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.events: list[SlackEvent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.faults: list[MethodFault] = []
        # What was refused as Slack refuses it (invalid_blocks, invalid_arguments, …): (where, the answer).
        self.refusals: list[tuple[str, dict[str, Any]]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, dict[str, Any]] = {}  # each user's App Home, as last published
        self.triggers: dict[str, float] = {}
        # The clock a trigger_id's 3 s are counted on; a test moves its own, so a loaded machine expires none.
        self.trigger_clock: Callable[[], float] = time.monotonic
        # Response URLs past their life (Slack keeps one 30 minutes, for 5 uses): each answers 404 `expired_url`.
        self.expired_responses: set[str] = set()
        # Response URLs Slack fails to take an answer at, as on a bad day: each answers this HTTP status.
        self.failing_responses: dict[str, int] = {}
        self._counter = itertools.count(1)
        self._ts = time.time()

    def add_channel(self, channel_id: str, name: str) -> None:
        self.channels[channel_id] = name

    def dm_channel(self, user: str) -> str:
        """The ID of the bot's direct message with a user."""
        return "D" + user[1:]

    def add_user(self, user: SlackUser) -> None:
        self.users[user.id] = user

    def add_usergroup(self, group_id: str, handle: str, members: list[str]) -> None:
        self.usergroups[group_id] = {"id": group_id, "team_id": self.team_id, "handle": handle,
                                     "name": handle, "users": list(members), "date_delete": 0}

    def new_trigger_id(self) -> str:
        trigger = f"{next(self._counter)}.{int(time.time())}.trigger"
        with self.lock:
            self.triggers[trigger] = self.trigger_clock()
        return trigger

    def next_ts(self) -> str:
        self._ts += 0.000100
        return f"{self._ts:.6f}"

    def add_fault(self, fault: MethodFault) -> None:
        with self.lock:
            self.faults.append(fault)

    def events_since(self, cursor: int) -> tuple[list[SlackEvent], int]:
        with self.lock:
            return list(self.events[cursor:]), len(self.events)

    def refuse(self, where: str, refusal: Refusal) -> dict[str, Any]:
        answer = refusal.body()
        with self.lock:
            self.refusals.append((where, answer))
        return answer

    def method_calls(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [args for name, args in self.calls if name == method]


class SlackEmulator:
    def __init__(self, state: SlackState):
        self.state = state
        self.app = Starlette(routes=[
            Route("/api/{method}", self.api, methods=["POST", "GET"]),
            Route("/response/{key}", self.response_url, methods=["POST"]),
            WebSocketRoute("/socket", self.socket),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    async def api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = await _arguments(request)
        with self.state.lock:
            self.state.calls.append((method, args))
            fault = next((f for f in self.state.faults if f.matches(method, args)), None)
            if fault and fault.skip:
                fault.skip -= 1
                fault = None
            if fault and fault.times is not None:
                fault.times -= 1
        if fault and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault and fault.until is not None:
            held = time.monotonic() + HELD_AT_MOST
            while not fault.until.is_set() and time.monotonic() < held:
                await asyncio.sleep(0.01)
        answer = self._answer(request, method, args, fault)
        if fault and fault.until is not None:
            fault.carried_out.set()
        return answer

    def _answer(self, request: Request, method: str, args: dict[str, Any], fault: MethodFault | None) -> Response:
        if fault and fault.body is not None:
            return Response(json.dumps(fault.body).encode(), media_type="application/json")
        if fault and (fault.status or fault.error):
            if fault.status:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                body = {"ok": False, "error": "ratelimited"} if fault.status == 429 else {"ok": False}
                return JSONResponse(body, status_code=fault.status, headers=headers)
            return JSONResponse({"ok": False, "error": fault.error})
        if fault and fault.headers and fault.garbled is None:
            return Response(b'{"ok": true}', headers={"Content-Type": "application/json", **fault.headers})
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth else str(args.get("token", ""))
        if not token:
            return JSONResponse({"ok": False, "error": "not_authed"})
        if method == "apps.connections.open":  # the only method that takes the app-level token
            if token != self.state.app_token:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            return JSONResponse({"ok": True, "url": f"ws://{request.url.netloc}/socket"})
        if token != self.state.bot_token:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        result: dict[str, Any] = handler(args)
        if fault and fault.garbled is not None:
            return Response(fault.garbled, status_code=fault.garbled_status,
                            headers={"Content-Type": "application/json", **(fault.headers or {})})
        headers = {"x-oauth-scopes": ",".join(self.state.scopes)} if method == "auth.test" else {}
        return JSONResponse(result, headers=headers)

    async def socket(self, websocket: WebSocket) -> None:
        """Socket Mode: hello, then each queued envelope; the app's acks are kept in `socket_acks`."""
        await websocket.accept()
        with self.state.lock:
            self.state.socket_connections += 1
        await websocket.send_json({"type": "hello", "num_connections": 1,
                                   "connection_info": {"app_id": "A0BACKUPBOT"},
                                   "debug_info": {"host": "emulator", "approximate_connection_time": 3600}})

        async def send_queued() -> None:
            while True:
                with self.state.lock:
                    outgoing, self.state.socket_outbox[:] = list(self.state.socket_outbox), []
                for envelope in outgoing:
                    if envelope is CLOSE:  # the connection dropped by Slack's side
                        await websocket.close(code=1011)
                        return
                    if isinstance(envelope, str):  # a frame as is: a broken or cut-off envelope
                        await websocket.send_text(envelope)
                    elif isinstance(envelope, bytes):  # a binary frame, which Slack does not send
                        await websocket.send_bytes(envelope)
                    else:
                        await websocket.send_json(envelope)
                await asyncio.sleep(0.01)

        sender = asyncio.create_task(send_queued())
        try:
            while not sender.done():
                message = await websocket.receive_text()
                with self.state.lock:
                    self.state.socket_acks.append(json.loads(message))
        except (WebSocketDisconnect, RuntimeError):  # RuntimeError: received after the close above
            pass
        finally:
            sender.cancel()

    async def response_url(self, request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except json.JSONDecodeError:
            return Response("invalid_payload", status_code=400)
        if not isinstance(payload, dict):
            return Response("invalid_payload", status_code=400)
        if request.path_params["key"] in self.state.expired_responses:
            return Response("expired_url", status_code=404)
        failing = self.state.failing_responses.get(request.path_params["key"])
        if failing is not None:
            return Response("internal_error" if failing >= 500 else "", status_code=failing)
        refusal = check_message(payload.get("text"), payload.get("blocks"))
        if refusal is not None:
            # A response URL answers 400 with the bare error; the details are kept for the tests.
            self.state.refuse(f"response_url {request.path_params['key']}", refusal)
            return Response(refusal.error, status_code=400)
        with self.state.lock:
            self.state.events.append(SlackEvent(
                "response", channel=None, text=payload.get("text") or "", blocks=payload.get("blocks") or [],
                response_type=payload.get("response_type") or "ephemeral",
                replace_original=bool(payload.get("replace_original")), response_key=request.path_params["key"]))
        return Response("ok")

    # --- methods: each takes the call's arguments and returns Slack's answer -------------------------------

    def m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://demo.slack.com/", "team": "Demo", "user": "backup-bot",
                "team_id": self.state.team_id, "user_id": self.state.bot_user_id, "bot_id": "B0BACKUPBOT"}

    def _message(self, args: dict[str, Any], kind: str, method: str) -> SlackEvent | dict[str, Any]:
        """The message a chat.* call carries, or Slack's answer refusing it."""
        channel = str(args.get("channel") or "")
        dm_to = None
        if channel in self.state.users and method == "chat.postMessage":
            # A bot posting to a user ID (chat:write) posts in its direct message with that user.
            dm_to, channel = channel, self.state.dm_channel(channel)
        elif channel not in self.state.channels and channel not in {self.state.dm_channel(u) for u in self.state.users}:
            return {"ok": False, "error": "channel_not_found"}
        blocks = args.get("blocks")
        if isinstance(blocks, str) and blocks:
            blocks = _json_arg(blocks)
            if blocks is None:
                return self.state.refuse(method, Refusal("invalid_blocks_format"))
        text = str(args.get("text") or "")
        refusal = check_message(text, blocks) or check_posted(blocks)
        if refusal is not None:
            return self.state.refuse(method, refusal)
        metadata = args.get("metadata")
        if isinstance(metadata, str) and metadata:
            metadata = _json_arg(metadata)
        if metadata is not None and not _valid_metadata(metadata):
            return self.state.refuse(method, Refusal("invalid_metadata_format"))
        return SlackEvent(kind, channel=channel, text=text, blocks=blocks or [], user=dm_to,
                          thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
                          metadata=metadata or None)

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        event = self._message(args, "message", "chat.postMessage")
        if not isinstance(event, SlackEvent):
            return event
        with self.state.lock:
            event.ts = self.state.next_ts()
            self.state.events.append(event)
        return {"ok": True, "channel": event.channel, "ts": event.ts,
                "message": {"text": event.text, "blocks": event.blocks, "ts": event.ts}}

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        event = self._message(args, "ephemeral", "chat.postEphemeral")
        if not isinstance(event, SlackEvent):
            return event
        if args.get("user") not in self.state.users:
            return {"ok": False, "error": "user_not_in_channel"}
        with self.state.lock:
            event.user, event.ts = str(args["user"]), self.state.next_ts()
            self.state.events.append(event)
        return {"ok": True, "message_ts": event.ts}

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        event = self._message(args, "update", "chat.update")
        if not isinstance(event, SlackEvent):
            return event
        ts = str(args.get("ts") or "")
        with self.state.lock:
            if not any(e.kind == "message" and e.ts == ts and e.channel == event.channel for e in self.state.events):
                return {"ok": False, "error": "message_not_found"}
            event.ts = ts
            self.state.events.append(event)
        return {"ok": True, "channel": event.channel, "ts": ts, "text": event.text}

    def _view(self, args: dict[str, Any], kind: str) -> dict[str, Any]:
        view = _json_arg(args.get("view"))
        refusal = check_view(view) or too_large(args.get("view"))
        if refusal is not None:
            return self.state.refuse(kind.replace("view_", "views."), refusal)
        with self.state.lock:
            if kind in ("view_open", "view_push"):
                issued = self.state.triggers.pop(str(args.get("trigger_id") or ""), None)
                if issued is None:
                    return {"ok": False, "error": "invalid_trigger_id"}
                if self.state.trigger_clock() - issued > TRIGGER_TTL_SECONDS:
                    return {"ok": False, "error": "expired_trigger_id"}
                view_id = f"V{next(self.state._counter):010d}"
            else:
                view_id = str(args.get("view_id") or "")
                if view_id not in self.state.views:
                    return {"ok": False, "error": "not_found"}
            stored = {**view, "id": view_id, "hash": f"h{next(self.state._counter)}"}
            self.state.views[view_id] = stored
            self.state.events.append(SlackEvent(kind, view=stored))
        return {"ok": True, "view": stored}

    def m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._view(args, "view_open")

    def m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._view(args, "view_push")

    def m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._view(args, "view_update")

    def m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        """A user's App Home: a `home` view (100 blocks at most), replacing the one published before."""
        user = str(args.get("user_id") or "")
        if user not in self.state.users:
            return {"ok": False, "error": "invalid_arguments"}
        view = _json_arg(args.get("view"))
        refusal = check_view(view) or too_large(args.get("view"))
        if refusal is not None:
            return self.state.refuse("views.publish", refusal)
        if view.get("type") != "home":
            return self.state.refuse("views.publish", Refusal("invalid_arguments",
                                                              ["must be home [json-pointer:/view/type]"]))
        with self.state.lock:
            view_id = self.state.homes.get(user, {}).get("id") or f"V{next(self.state._counter):010d}"
            stored = {**view, "id": view_id, "hash": f"h{next(self.state._counter)}"}
            self.state.homes[user] = stored
            self.state.events.append(SlackEvent("home", user=user, view=stored))
        return {"ok": True, "view": stored}

    def m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.state.users.get(str(args.get("user") or ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        profile = {"real_name": user.real_name, "display_name": user.name}
        if "users:read.email" in self.state.scopes:
            profile["email"] = user.email
        return {"ok": True, "user": {"id": user.id, "name": user.name, "real_name": user.real_name,
                                     "is_bot": user.is_bot, "deleted": user.deleted, "profile": profile}}

    def m_usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        include_users = str(args.get("include_users", "")).lower() in ("1", "true")
        groups = [{k: v for k, v in g.items() if include_users or k != "users"}
                  for g in self.state.usergroups.values()]
        return {"ok": True, "usergroups": groups}

    def m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        if channel not in self.state.channels:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {"id": channel, "name": self.state.channels[channel], "is_channel": True}}

    def m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        return slack_conversations.history(self.state, args)

    def m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        return slack_conversations.replies(self.state, args)

    def m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return slack_conversations.open_dm(self.state, args)

    def m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.state.usergroups.get(str(args.get("usergroup") or ""))
        if group is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(group["users"])}


async def _arguments(request: Request) -> dict[str, Any]:
    raw = await request.body()
    args: dict[str, Any] = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/json"):
        body = json.loads(raw or b"{}")
        if isinstance(body, dict):
            args.update(body)
    else:
        args.update(parse_qsl(raw.decode("utf-8")))
    return args


def _valid_metadata(metadata: Any) -> bool:
    """Slack's message metadata: an `event_type` (a string) and an `event_payload` (an object)."""
    return (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
            and bool(metadata["event_type"]) and isinstance(metadata.get("event_payload"), dict))


def _json_arg(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def demo_slack_state(bot_token: str) -> SlackState:
    """The demo workspace: a channel, people with different rights, and their user groups."""
    state = SlackState(bot_token)
    state.add_channel("C0DBAOPS01", "db-ops")
    state.add_channel("C0RANDOM01", "random")
    for user in (
        SlackUser("U0ALICE001", "alice", "Alice Admin", "alice@acme.example"),
        SlackUser("U0BOB00001", "bob", "Bob Builder", "bob@acme.example"),
        SlackUser("U0CAROL001", "carol", "Carol Lead", "carol@acme.example"),
        SlackUser("U0DAVE0001", "dave", "Dave Outsider", "dave@elsewhere.example"),
    ):
        state.add_user(user)
    state.add_usergroup("S0DBATEAM1", "dba-team", ["U0ALICE001", "U0BOB00001"])
    state.add_usergroup("S0DBALEAD1", "dba-leads", ["U0CAROL001"])
    return state
