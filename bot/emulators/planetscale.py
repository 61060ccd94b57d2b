"""An emulator of PlanetScale's API for the operations in ../shared/planetscale/, strict like the real one.

- Service-token auth (`Authorization: <id>:<token>`); a token without read access to a database gets 404,
  as PlanetScale answers service tokens; with read but without write, 403.
- Bodies are checked against the spec: unknown fields, wrong types and enum violations get 422 with the
  API's error body `{"code": …, "message": …}`.
- Pagination with the list envelope; `next_page` is null on the last page.
- Faults for tests: a status (with `Retry-After` and a body of choice), a delay, for N requests.
- `requests` records every call (method, path, query, JSON body) for tests to assert on.
- `rate_limit`: PlanetScale's limit (600 requests a minute), counted per token over a sliding window; a
  request over it is answered 429 without `Retry-After`, as the API documents none, and counted.

Routes under `/_emulator/` drive it over HTTP (faults, requests, reset) when it runs as its own process.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DEMO_TOKEN_ID = "demo-token-id"
DEMO_TOKEN = "pscale_tkn_demo_only_not_a_secret"
ALL_ACCESSES = ("read_backups", "write_backups", "read_database", "read_organization")

POLICY_FIELDS: dict[str, type] = {
    "name": str, "target": str, "retention_value": int, "retention_unit": str, "frequency_value": int,
    "frequency_unit": str, "schedule_time": str, "schedule_day": int, "schedule_week": int,
}
ENUMS = {
    "target": ("production", "development"),
    "retention_unit": ("hour", "day", "week", "month", "year"),
    "frequency_unit": ("hour", "day", "week", "month"),
}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Fault:
    status: int | None = None
    delay: float = 0.0
    times: int | None = 1  # None: every matching request
    method: str | None = None
    path_contains: str | None = None
    retry_after: str | None = None
    body: str | None = None  # raw body; default is the API's error JSON for the status

    def matches(self, method: str, path: str) -> bool:
        return ((self.method is None or self.method.upper() == method)
                and (self.path_contains is None or self.path_contains in path)
                and (self.times is None or self.times > 0))


@dataclass
class TokenGrant:
    token: str
    # organization -> database glob ("*" for all) -> accesses
    accesses: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def allows(self, organization: str, database: str | None, access: str) -> bool:
        for pattern, granted in self.accesses.get(organization, {}).items():
            if access in granted and (pattern == "*" or database is None or pattern == database):
                return True
        return False


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


class PlanetScaleState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.databases: dict[tuple[str, str], dict[str, Any]] = {}
        self.policies: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.members: dict[str, list[dict[str, Any]]] = {}
        self.tokens: dict[str, TokenGrant] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.rate_limit: tuple[int, float] | None = None  # (requests, per seconds)
        self.rate_limited = 0  # requests answered 429 for going over `rate_limit`
        self.clock: Callable[[], float] = time.monotonic
        self._recent: dict[str, deque[float]] = {}
        self._ids = 0

    # --- set-up -----------------------------------------------------------------------------------

    def new_id(self) -> str:
        self._ids += 1
        return f"bp{self._ids:04d}x7k2q9"

    def add_database(self, organization: str, database: str, kind: str = "mysql") -> None:
        created = _iso(_now() - timedelta(days=200))
        self.databases[(organization, database)] = {
            "id": f"db-{database}", "type": "Database", "name": database, "kind": kind, "state": "ready",
            "created_at": created, "updated_at": created, "url": f"https://app.planetscale.com/{organization}/{database}",
            "html_url": f"https://app.planetscale.com/{organization}/{database}", "plan": "scaler_pro",
            "region": {"slug": "us-east", "display_name": "AWS us-east-1"},
        }
        self.policies.setdefault((organization, database), {})

    def add_policy(
        self, organization: str, database: str, policy_id: str | None = None, **values: Any
    ) -> dict[str, Any]:
        created = _iso(_now() - timedelta(days=100))
        policy: dict[str, Any] = {
            "id": policy_id or self.new_id(), "name": "Backup", "target": "production", "retention_value": 2,
            "retention_unit": "day", "frequency_value": 12, "frequency_unit": "hour", "schedule_time": "00:00",
            "schedule_day": None, "schedule_week": None, "created_at": created, "updated_at": created,
            "last_ran_at": None, "next_run_at": None, "required": False,
        }
        policy.update(values)
        policy["display_name"] = f"Backup policy {policy['name']}"
        policy["next_run_at"] = next_run(policy)
        self.policies.setdefault((organization, database), {})[policy["id"]] = policy
        return policy

    def grant(self, token_id: str, token: str, organization: str, database: str = "*",
              accesses: tuple[str, ...] = ALL_ACCESSES) -> None:
        grant = self.tokens.setdefault(token_id, TokenGrant(token))
        grant.accesses.setdefault(organization, {}).setdefault(database, set()).update(accesses)

    def add_member(self, organization: str, email: str, name: str, role: str) -> None:
        stamp = _iso(_now() - timedelta(days=300))
        members = self.members.setdefault(organization, [])
        members.append({
            "id": f"mem{len(members) + 1:03d}", "role": role, "created_at": stamp, "updated_at": stamp,
            "user": {"id": f"usr{len(members) + 1:03d}", "display_name": name, "name": name, "email": email,
                     "avatar_url": "", "created_at": stamp, "updated_at": stamp,
                     "two_factor_auth_configured": True},
        })

    def policy(self, organization: str, database: str, policy_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.policies[(organization, database)][policy_id])

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def calls(self, method: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if method is None or r.method == method]

    def over_rate_limit(self, token_id: str) -> bool:
        """Count a request of this token; True when it goes over `rate_limit`. Call with `lock` held."""
        if self.rate_limit is None:
            return False
        allowed, window = self.rate_limit
        now = self.clock()
        recent = self._recent.setdefault(token_id, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= allowed:
            self.rate_limited += 1
            return True
        recent.append(now)
        return False

    def clear_record(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()


def seed_demo(state: PlanetScaleState) -> PlanetScaleState:
    """The demo organization: acme, with app-db (MySQL) and billing-db (Postgres)."""
    state.add_database("acme", "app-db", kind="mysql")
    state.add_policy("acme", "app-db", "bp01prod12h", name="Production daily", target="production",
                     retention_value=2, retention_unit="day", frequency_value=12, frequency_unit="hour",
                     schedule_time="09:10", required=True)
    state.add_policy("acme", "app-db", "bp02prodwk", name="Production weekly", target="production",
                     retention_value=4, retention_unit="week", frequency_value=1, frequency_unit="week",
                     schedule_time="03:00", schedule_day=0)
    state.add_policy("acme", "app-db", "bp03devday", name="Development daily", target="development",
                     retention_value=3, retention_unit="day", frequency_value=1, frequency_unit="day",
                     schedule_time="04:30")
    state.add_database("acme", "billing-db", kind="postgresql")
    state.add_policy("acme", "billing-db", "bp04billing", name="Production daily", target="production",
                     retention_value=2, retention_unit="day", frequency_value=12, frequency_unit="hour",
                     schedule_time="01:00", required=True)
    state.add_policy("acme", "billing-db", "bp05billmon", name="Monthly archive", target="production",
                     retention_value=1, retention_unit="year", frequency_value=1, frequency_unit="month",
                     schedule_time="05:00", schedule_day=1, schedule_week=0)
    state.grant(DEMO_TOKEN_ID, DEMO_TOKEN, "acme")
    state.add_member("acme", "alice@acme.example", "Alice Admin", "admin")
    state.add_member("acme", "bob@acme.example", "Bob Builder", "member")
    state.add_member("acme", "carol@acme.example", "Carol Lead", "admin")
    return state


def next_run(policy: dict[str, Any], now: datetime | None = None) -> str:
    """The next run after now for the policy's schedule (UTC)."""
    now = now or _now()
    hour, minute = (int(x) for x in policy["schedule_time"].split(":"))
    unit, value = policy["frequency_unit"], max(1, int(policy["frequency_value"]))
    if unit == "hour":
        start = now.replace(hour=hour, minute=minute, second=0) - timedelta(days=1)
        step = timedelta(hours=value)
    elif unit == "day":
        start = now.replace(hour=hour, minute=minute, second=0) - timedelta(days=value)
        step = timedelta(days=value)
    elif unit == "week":
        day = policy["schedule_day"] or 0
        start = now.replace(hour=hour, minute=minute, second=0)
        start -= timedelta(days=(start.weekday() + 1 - day) % 7 + 7 * value)
        step = timedelta(weeks=value)
    else:
        return _iso(_next_monthly(now, hour, minute, policy["schedule_day"] or 0, policy["schedule_week"] or 0,
                                  value))
    while start <= now:
        start += step
    return _iso(start)


def _next_monthly(now: datetime, hour: int, minute: int, day: int, week: int, every: int) -> datetime:
    year, month = now.year, now.month
    for _ in range(240):
        first = datetime(year, month, 1, hour, minute, tzinfo=UTC)
        offset = (day - (first.weekday() + 1) % 7) % 7
        candidate = first + timedelta(days=offset + 7 * week)
        if candidate > now and (month - 1) % every == 0:
            return candidate
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return now  # pragma: no cover


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                422: "unprocessable", 429: "rate_limited"}
TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def validate_policy_body(body: Any, partial: bool) -> str | None:
    """The API's checks on a create/update body; a message when it is refused."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    for key, value in body.items():
        if key not in POLICY_FIELDS:
            return f"Unknown parameter: {key}"
        expected = POLICY_FIELDS[key]
        if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
            return f"{key} must be an integer"
        if expected is str and not isinstance(value, str):
            return f"{key} must be a string"
        if key in ENUMS and value not in ENUMS[key]:
            return f"{key} must be one of: {', '.join(ENUMS[key])}"
    for key in ("retention_value", "frequency_value"):
        if key in body and body[key] < 1:
            return f"{key} must be greater than 0"
    if "schedule_time" in body and not TIME_PATTERN.match(body["schedule_time"]):
        return "schedule_time must be in HH:MM format"
    if "schedule_day" in body and not 0 <= body["schedule_day"] <= 6:
        return "schedule_day must be between 0 and 6"
    if "schedule_week" in body and not 0 <= body["schedule_week"] <= 3:
        return "schedule_week must be between 0 and 3"
    if "name" in body and not body["name"].strip():
        return "name can't be blank"
    if not partial and "name" not in body:
        return "name can't be blank"
    return None


def normalise_schedule(policy: dict[str, Any]) -> str | None:
    unit = policy["frequency_unit"]
    if unit in ("hour", "day"):
        policy["schedule_day"] = policy["schedule_week"] = None
    elif unit == "week":
        policy["schedule_week"] = None
    if unit in ("week", "month") and policy["schedule_day"] is None:
        return "schedule_day is required for weekly and monthly backups"
    if unit == "month" and policy["schedule_week"] is None:
        return "schedule_week is required for monthly backups"
    return None


class PlanetScaleEmulator:
    def __init__(self, state: PlanetScaleState | None = None):
        self.state = state or seed_demo(PlanetScaleState())
        base = "/organizations/{organization}"
        policies = base + "/databases/{database}/backup-policies"
        self.app = Starlette(routes=[
            Route(policies, self.list_or_create, methods=["GET", "POST"]),
            Route(policies + "/{id}", self.one_policy, methods=["GET", "PATCH", "DELETE"]),
            Route(base + "/databases/{database}", self.get_database, methods=["GET"]),
            Route(base + "/members", self.list_members, methods=["GET"]),
            Route(base + "/members/{id}", self.get_member, methods=["GET"]),
            Route(base + "/service-tokens/{id}", self.get_service_token, methods=["GET"]),
            Route("/_emulator/faults", self.control_faults, methods=["POST", "DELETE"]),
            Route("/_emulator/requests", self.control_requests, methods=["GET"]),
        ])
        # Paths are matched after the optional /v1 prefix, as the real base URL carries it.
        self._inner = self.app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            scope = dict(scope, path=scope["path"][3:], raw_path=scope.get("raw_path", b"")[3:])
        await self._inner(scope, receive, send)

    # --- the shared front of every API call --------------------------------------------------------

    async def _front(self, request: Request, access: str, database: str | None) -> Response | None:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        state = self.state
        with state.lock:
            state.requests.append(RecordedRequest(request.method, request.url.path, dict(request.query_params),
                                                  body, request.headers.get("authorization")))
            fault = next((f for f in state.faults if f.matches(request.method, request.url.path)), None)
            if fault and fault.times is not None:
                fault.times -= 1
            token_id = (request.headers.get("authorization") or "").partition(":")[0].strip()
            limited = state.over_rate_limit(token_id)
        if limited:
            return _error(429, "rate_limited", "Rate limit exceeded")
        if fault:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                if fault.body is not None:
                    return Response(fault.body, status_code=fault.status, headers=headers)
                code = STATUS_CODES.get(fault.status, "internal_server_error")
                return JSONResponse({"code": code, "message": f"emulated {fault.status}"} if fault.status < 500
                                    else {}, status_code=fault.status, headers=headers)
        token_id, _, token = (request.headers.get("authorization") or "").partition(":")
        grant = state.tokens.get(token_id.strip())
        if grant is None or grant.token != token.strip():
            return _error(401, "unauthorized", "Unauthorized")
        organization = request.path_params["organization"]
        if access.startswith("write"):
            read = access.replace("write", "read")
            if not grant.allows(organization, database, read):
                return _error(404, "not_found", "Not Found")
        if not grant.allows(organization, database, access):
            if access.startswith("write") or access == "read_organization":
                return _error(403, "forbidden", "Forbidden")
            return _error(404, "not_found", "Not Found")
        if database is not None and (organization, database) not in state.databases:
            return _error(404, "not_found", "Not Found")
        request.state.body = body
        return None

    # --- operations ---------------------------------------------------------------------------------

    async def list_or_create(self, request: Request) -> Response:
        org, db = request.path_params["organization"], request.path_params["database"]
        write = request.method == "POST"
        refused = await self._front(request, "write_backups" if write else "read_backups", db)
        if refused:
            return refused
        if write:
            body = request.state.body
            problem = validate_policy_body(body, partial=False)
            if problem:
                return _error(422, "invalid_params", problem)
            with self.state.lock:
                policy = self.state.add_policy(org, db, **body)
                problem = normalise_schedule(policy)
                if problem:
                    del self.state.policies[(org, db)][policy["id"]]
                    return _error(422, "invalid_params", problem)
                return JSONResponse(copy.deepcopy(policy), status_code=201)
        with self.state.lock:
            items = sorted(self.state.policies[(org, db)].values(), key=lambda p: p["created_at"] + p["id"])
            return self._page(request, copy.deepcopy(items))

    async def one_policy(self, request: Request) -> Response:
        org, db, policy_id = (request.path_params[k] for k in ("organization", "database", "id"))
        access = {"GET": "read_backups"}.get(request.method, "write_backups")
        refused = await self._front(request, access, db)
        if refused:
            return refused
        with self.state.lock:
            policies = self.state.policies[(org, db)]
            if policy_id not in policies:
                return _error(404, "not_found", "Not Found")
            if request.method == "GET":
                return JSONResponse(copy.deepcopy(policies[policy_id]))
            if request.method == "DELETE":
                if policies[policy_id]["required"]:
                    return _error(422, "unprocessable", "Required backup policies cannot be deleted")
                del policies[policy_id]
                return Response(status_code=204)
            body = request.state.body
            problem = validate_policy_body(body, partial=True)
            if problem:
                return _error(422, "invalid_params", problem)
            current = policies[policy_id]
            if current["required"] and body.get("target", current["target"]) != current["target"]:
                return _error(422, "unprocessable", "The target of a required backup policy cannot be changed")
            updated = {**current, **body}
            problem = normalise_schedule(updated)
            if problem:
                return _error(422, "invalid_params", problem)
            updated["display_name"] = f"Backup policy {updated['name']}"
            updated["updated_at"] = _iso(_now())
            updated["next_run_at"] = next_run(updated)
            policies[policy_id] = updated
            return JSONResponse(copy.deepcopy(updated))

    async def get_database(self, request: Request) -> Response:
        db = request.path_params["database"]
        refused = await self._front(request, "read_database", db)
        if refused:
            return refused
        return JSONResponse(copy.deepcopy(self.state.databases[(request.path_params["organization"], db)]))

    async def list_members(self, request: Request) -> Response:
        refused = await self._front(request, "read_organization", None)
        if refused:
            return refused
        query = request.query_params.get("q", "").lower()
        with self.state.lock:
            members = [m for m in self.state.members.get(request.path_params["organization"], [])
                       if not query or query in m["user"]["email"].lower() or query in m["user"]["name"].lower()]
            return self._page(request, copy.deepcopy(members), totals=True)

    async def get_member(self, request: Request) -> Response:
        refused = await self._front(request, "read_organization", None)
        if refused:
            return refused
        for member in self.state.members.get(request.path_params["organization"], []):
            if member["id"] == request.path_params["id"]:
                return JSONResponse(copy.deepcopy(member))
        return _error(404, "not_found", "Not Found")

    async def get_service_token(self, request: Request) -> Response:
        refused = await self._front(request, "read_organization", None)
        if refused:
            return refused
        org, token_id = request.path_params["organization"], request.path_params["id"]
        grant = self.state.tokens.get(token_id)
        if grant is None:
            return _error(404, "not_found", "Not Found")
        stamp = _iso(_now())
        accesses = [
            {"id": f"acc{i}", "access": access, "description": access, "resource_name": pattern,
             "resource_id": pattern, "resource_type": "Organization" if pattern == "*" else "Database",
             "resource": {"id": pattern, "name": pattern, "created_at": stamp, "updated_at": stamp,
                          "deleted_at": None}}
            for i, (pattern, granted) in enumerate(grant.accesses.get(org, {}).items())
            for access in sorted(granted)
        ]
        return JSONResponse({"id": token_id, "name": token_id, "display_name": token_id, "token": None,
                             "plain_text_refresh_token": None, "avatar_url": "", "created_at": stamp,
                             "updated_at": stamp, "expires_at": None, "last_used_at": stamp, "actor_id": None,
                             "actor_display_name": None, "actor_type": None,
                             "service_token_accesses": accesses})

    def _page(self, request: Request, items: list[dict[str, Any]], totals: bool = False) -> Response:
        try:
            page = max(1, int(request.query_params.get("page", "1")))
            per_page = min(100, max(1, int(request.query_params.get("per_page", "25"))))
        except ValueError:
            return _error(400, "bad_request", "page and per_page must be integers")
        start = (page - 1) * per_page
        last = start + per_page >= len(items)
        url = str(request.url.remove_query_params(["page"]))
        envelope: dict[str, Any] = {
            "type": "list", "current_page": page, "per_page": per_page,
            "next_page": None if last else page + 1,
            "next_page_url": None if last else f"{url}&page={page + 1}",
            "prev_page": page - 1 if page > 1 else None,
            "prev_page_url": f"{url}&page={page - 1}" if page > 1 else None,
            "data": items[start:start + per_page],
        }
        if totals:
            envelope["total_count"] = len(items)
            envelope["total_pages"] = max(1, -(-len(items) // per_page))
        return JSONResponse(envelope)

    # --- control over HTTP ----------------------------------------------------------------------------

    async def control_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            with self.state.lock:
                self.state.faults.clear()
            return JSONResponse({"ok": True})
        spec = await request.json()
        fields = {k: spec[k] for k in Fault.__dataclass_fields__ if k in spec}
        self.state.add_fault(Fault(**fields))
        return JSONResponse({"ok": True})

    async def control_requests(self, request: Request) -> Response:
        return JSONResponse([
            {"method": r.method, "path": r.path, "query": r.query, "body": r.body} for r in self.state.calls()
        ])
