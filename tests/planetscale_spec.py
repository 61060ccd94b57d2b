"""PlanetScale's published spec as the emulator's judge: each answer the emulator gives is checked against it.

`SpecJudge` validates one exchange (request and answer) with openapi-core against the extract of PlanetScale's
public OpenAPI spec that the emulator serves; `JudgedBySpec` puts it in front of the emulator, so every answer
given in the test run is judged before the client sees it. conftest.py fails the test that caused a violation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from openapi_core import OpenAPI
from openapi_core.deserializing.styles.exceptions import EmptyQueryParameterValue
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse

from bot.emulators.planetscale_state import FAULT_HEADER

SPEC_PATH = Path(__file__).parent / "planetscale-openapi.yaml"
SPEC_HOST = "https://api.planetscale.com"  # the spec's server is this host with the base path /v1
BASE_PATH = "/v1"

# Statuses PlanetScale answers that the spec lists for none of these operations (docs/planetscale-api.md): 400
# for a body or query it cannot read, 422 for a change it refuses, 429 past its rate limit, and 405 for a method a
# path does not have. The spec gives no body for these, nor for the 401/403/404 it does list, so the body checked
# for every 4xx is the error body PlanetScale's clients read: a JSON object with string `code` and `message`.
ERRORS_BEYOND_THE_SPEC = frozenset({400, 405, 422, 429})
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


@dataclass(frozen=True)
class Exchange:
    """One request to the emulator and its answer, as they crossed the wire."""

    method: str
    path: str
    query: str = ""
    request_headers: tuple[tuple[str, str], ...] = ()
    request_body: bytes = b""
    status: int = 200
    response_headers: tuple[tuple[str, str], ...] = ()
    response_body: bytes = b""

    def request_header(self, name: str) -> str | None:
        return next((v for k, v in self.request_headers if k.lower() == name.lower()), None)

    def response_header(self, name: str) -> str | None:
        return next((v for k, v in self.response_headers if k.lower() == name.lower()), None)

    def __str__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.method} {self.path}{query} → {self.status}"


def describe(error: Exception) -> str:
    """The error's message; openapi-core cannot print some of its own errors (a body that is not UTF-8)."""
    try:
        text = str(error)
    except Exception:  # the message is only for the report
        text = ""
    return f"{type(error).__name__}: {text[:600]}" if text else type(error).__name__


def caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, kind):
        cause = cause.__cause__
    return cause is not None


def error_body_problems(exchange: Exchange) -> list[str]:
    content_type = exchange.response_header("content-type") or ""
    try:
        body = json.loads(exchange.response_body)
    except ValueError:
        body = None
    if not content_type.startswith("application/json") or not (
            isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("message"), str)):
        shown = exchange.response_body[:200].decode("utf-8", "replace")
        return [f"a {exchange.status} without PlanetScale's error body {{\"code\": …, \"message\": …}} "
                f"({content_type or 'no content type'}): {shown!r}"]
    return []


class SpecJudge:
    """Judges exchanges by the spec and keeps the violations until a test takes them."""

    def __init__(self, spec_path: Path = SPEC_PATH):
        self.api = OpenAPI.from_file_path(str(spec_path))
        self._lock = threading.Lock()
        self._violations: list[str] = []
        self.judged = 0

    def problems(self, exchange: Exchange) -> list[str]:
        path = exchange.path if exchange.path.startswith(BASE_PATH + "/") else BASE_PATH + exchange.path
        if path.startswith(BASE_PATH + "/_emulator/"):
            return []  # the emulator's own controls, not PlanetScale's API
        fault = exchange.response_header(FAULT_HEADER)
        if fault == "body":
            return []  # a test chose this answer's body to see how the client takes a broken API
        if exchange.status >= 500 and fault is None:
            return [f"a server error nobody injected: {exchange.response_body[:300].decode('utf-8', 'replace')!r}"]
        request = MockRequest(SPEC_HOST, exchange.method, path, args=parse_qsl(exchange.query, keep_blank_values=True),
                              headers=dict(exchange.request_headers), data=exchange.request_body,
                              content_type=exchange.request_header("content-type") or "application/json")
        problems: list[str] = []
        try:
            self.api.validate_request(request)
        except PathError:
            if exchange.status not in (404, 405):
                problems.append("the spec has no such operation, yet it was answered")
            return problems + error_body_problems(exchange)
        except (OpenAPIError, RecursionError) as error:  # RecursionError: JSON nested too deeply to read
            # The spec refuses this request: the emulator, as strict as PlanetScale, must refuse it too. Except an
            # empty query value (`?q=`): the spec's default forbids it, but PlanetScale, like most servers, takes
            # it as no value, and so does the emulator.
            if exchange.status < 400 and not caused_by(error, EmptyQueryParameterValue):
                problems.append(f"accepted a request the spec refuses ({describe(error)})")
        response = MockResponse(exchange.response_body, exchange.status, headers=dict(exchange.response_headers),
                                content_type=exchange.response_header("content-type") or "")
        try:
            self.api.validate_response(request, response)
        except ResponseNotFound:
            if exchange.status not in ERRORS_BEYOND_THE_SPEC and exchange.status < 500:
                problems.append(f"status {exchange.status} is neither in the spec for this operation nor one "
                                "PlanetScale answers beyond it")
        except OpenAPIError as error:
            problems.append(f"the answer breaks the spec: {describe(error)}")
        if 400 <= exchange.status < 500:
            problems += error_body_problems(exchange)
        return problems

    def judge(self, exchange: Exchange) -> None:
        try:
            problems = self.problems(exchange)
        except Exception as error:  # the emulator's answer still goes out; the test fails on this instead
            problems = [f"the judge could not judge it: {describe(error)}"]
        with self._lock:
            self.judged += 1
            self._violations += [f"{exchange}: {problem}" for problem in problems]

    def take(self) -> list[str]:
        """The violations seen since the last take."""
        with self._lock:
            taken, self._violations = self._violations, []
        return taken


class JudgedBySpec:
    """ASGI middleware: each answer of the app is judged before it is sent (so a test's end sees every verdict)."""

    def __init__(self, app: Callable[[Scope, Any, Any], Awaitable[None]], judge: SpecJudge):
        self.app = app
        self.judge = judge

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_body = bytearray()
        held: list[Message] = []

        async def keep_request() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.extend(message.get("body", b""))
            return message

        async def hold(message: Message) -> None:
            held.append(message)

        failure: Exception | None = None
        try:
            await self.app(scope, keep_request, hold)
        except Exception as exc:  # judged, then raised again
            failure = exc
        start = next((m for m in held if m["type"] == "http.response.start"), {"status": 500, "headers": []})
        self.judge.judge(Exchange(
            method=scope["method"], path=scope["path"], query=scope.get("query_string", b"").decode("latin-1"),
            request_headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]),
            request_body=bytes(request_body), status=start["status"],
            response_headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]),
            response_body=b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body"),
        ))
        for message in held:
            await send(message)
        if failure is not None:
            raise failure
