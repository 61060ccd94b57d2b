"""An emulator of PlanetScale's API, strict like the real one, for the operations of its spec extract (tests/).

`tests/planetscale-openapi.yaml` is the extract of PlanetScale's public OpenAPI spec for the operations the bot uses;
the tests validate every answer this emulator gives against it (docs/planetscale-api.md).

- Service-token auth (`Authorization: <id>:<token>`); a token without read access to a database gets 404,
  as PlanetScale answers service tokens; with read but without write, 403.
- Bodies are checked against the spec: a body that is not UTF-8 JSON gets 400 `bad_request`; one that is not
  an object, or has unknown fields, wrong types or enum violations, gets 422 `invalid_params`; both with the
  API's error body `{"code": …, "message": …}`. Unknown paths and methods get that body too.
- Pagination with the list envelope; `next_page` is null on the last page.
- Faults for tests: a status (with `Retry-After` and a body of choice), a delay, for N requests. An injected
  answer carries `X-Emulator-Fault`, so the tests' spec check knows a body of the test's choice is meant.
- `requests` records every call (method, path, query, JSON body) for tests to assert on.
- `rate_limit`: PlanetScale's limit (600 requests a minute), counted per token over a sliding window; a
  request over it is answered 429 and counted. PlanetScale documents no `Retry-After`, so none by default;
  `rate_limit_retry_after` adds one (the seconds until the window admits the token's next request).

Routes under `/_emulator/` drive it over HTTP (faults, requests, reset) when it runs as its own process.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DEMO_TOKEN_ID = "demo-token-id"
DEMO_TOKEN = "pscale_tkn_demo_only_not_a_secret"
# On an injected answer: "status" when the body is the API's own for that status, "body" when the test chose it.
FAULT_HEADER = "X-Emulator-Fault"
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
    # The answer waits until a test sets this (at most a minute), then `delay`: a PlanetScale that is slow for
    # exactly as long as the test needs, whatever the clock.
    until: threading.Event | None = None
    # Carry the request out, then answer with `status` as if the answer were lost on its way back.
    landed: bool = False

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
        self.branches: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.backups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}  # by branch name, oldest first
        self.members: dict[str, list[dict[str, Any]]] = {}
        self.tokens: dict[str, TokenGrant] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.rate_limit: tuple[int, float] | None = None  # (requests, per seconds)
        self.rate_limited = 0  # requests answered 429 for going over `rate_limit`
        self.rate_limit_retry_after = False  # a 429 for going over `rate_limit` says when to come back
        self.clock: Callable[[], float] = time.monotonic
        # Called under the lock as each PATCH is about to land: (organization, database, policy as it is, body).
        self.patch_watchers: list[Callable[[str, str, dict[str, Any], dict[str, Any]], None]] = []
        self._recent: dict[str, deque[float]] = {}
        self._ids = 0
        self._backup_ids = 0

    # --- set-up -----------------------------------------------------------------------------------

    def new_id(self) -> str:
        self._ids += 1
        return f"bp{self._ids:04d}x7k2q9"

    def add_database(self, organization: str, database: str, kind: str = "mysql") -> None:
        created = _iso(_now() - timedelta(days=200))
        api = f"https://api.planetscale.com/v1/organizations/{organization}/databases/{database}"
        self.databases[(organization, database)] = {
            "id": f"db-{database}", "type": "Database", "name": database, "kind": kind, "state": "ready",
            "ready": True, "created_at": created, "updated_at": created, "schema_last_updated_at": created,
            "url": api, "branches_url": api + "/branches", "html_url": f"https://app.planetscale.com/{organization}/{database}",
            "plan": "scaler_pro", "branches_count": 2, "production_branches_count": 1, "development_branches_count": 1,
            "open_schema_recommendations_count": 0, "issues_count": 0, "default_branch": "main",
            "sharded": False, "default_branch_shard_count": 1, "default_branch_read_only_regions_count": 0,
            "default_branch_table_count": 12, "multiple_admins_required_for_deletion": False,
            "at_backup_restore_branches_limit": False, "at_development_branch_usage_limit": False,
            "data_import": None, "require_approval_for_deploy": False, "deletion_protected": True,
            "resizing": False, "resize_queued": False, "config_changing": False, "config_change_queued": False,
            "allow_data_branching": False, "foreign_keys_enabled": True, "automatic_migrations": None,
            "restrict_branch_region": False, "insights_raw_queries": False, "insights_enabled": True,
            "production_branch_web_console": False, "migration_table_name": None, "migration_framework": None,
            "region": {"id": "region-us-east", "provider": "AWS", "enabled": True, "public_ip_addresses": [],
                       "display_name": "AWS us-east-1", "location": "Ashburn, Virginia", "slug": "us-east",
                       "current_default": True, "mysql_supported": True, "postgresql_supported": True},
        }
        self.policies.setdefault((organization, database), {})
        self.add_branch(organization, database, "main", production=True)
        self.add_branch(organization, database, "dev", production=False)

    def add_branch(self, organization: str, database: str, name: str, production: bool) -> dict[str, Any]:
        created = _iso(_now() - timedelta(days=200))
        api = f"https://api.planetscale.com/v1/organizations/{organization}/databases/{database}/branches/{name}"
        region = self.databases[(organization, database)]["region"]
        branch = {
            "id": f"br-{database}-{name}", "name": name, "created_at": created, "updated_at": created,
            "deleted_at": None, "restore_checklist_completed_at": None, "schema_last_updated_at": created,
            "kind": self.databases[(organization, database)]["kind"], "mysql_address": f"{name}.{database}.psdb",
            "mysql_edge_address": f"{name}.{database}.edge.psdb", "state": "ready", "direct_vtgate": False,
            "vtgate_size": "small", "vtgate_name": None, "vtgate_count": 1, "vtgate_autoscaling": False,
            "vtgate_max_count": None, "vtgate_target_cpu_utilization": None, "cluster_name": "PS_10",
            "cluster_iops": None, "ready": True, "schema_ready": True, "metal": False, "production": production,
            "safe_migrations": production, "deletion_protected": production, "sharded": False, "shard_count": 1,
            "keyspace_count": 1, "stale_schema": False, "actor": None, "restored_from_branch": None,
            "private_edge_connectivity": False, "has_replicas": production, "has_read_only_replicas": False,
            "html_url": f"https://app.planetscale.com/{organization}/{database}/{name}", "url": api,
            "region": copy.deepcopy(region), "parent_branch": None if production else "main", "vtgate_options": {},
        }
        self.branches.setdefault((organization, database), []).append(branch)
        return branch

    def add_backup(self, organization: str, database: str, policy_id: str, state: str = "success",
                   hours_ago: float = 0.0, size: int = 1_250_000_000, branch: str | None = None) -> dict[str, Any]:
        """A backup made by a policy, on its first branch of the policy's target unless `branch` is given."""
        policy = self.policies[(organization, database)][policy_id]
        production = policy["target"] == "production"
        if branch is None:
            branch = next(b["name"] for b in self.branches[(organization, database)] if b["production"] == production)
        started = _now() - timedelta(hours=hours_ago, minutes=20)
        completed = _now() - timedelta(hours=hours_ago)
        keep = timedelta(hours=policy["retention_value"] * RETENTION_HOURS.get(policy["retention_unit"], 24))
        self._backup_ids += 1
        backup = {
            "id": f"bk{self._backup_ids:05d}", "name": completed.strftime("%Y.%m.%d %H:%M:%S"), "state": state,
            "size": size if state == "success" else 0, "estimated_storage_cost": round(size / 1e9 * 0.023, 4)
            if state == "success" else 0.0, "created_at": _iso(started), "updated_at": _iso(completed),
            "started_at": _iso(started), "expires_at": _iso(completed + keep) if state == "success" else None,
            "completed_at": _iso(completed) if state in ("success", "failed") else None, "deleted_at": None,
            "pvc_size": size, "uncompressed_size": size * 3, "protected": False, "required": policy["required"],
            "restored_branches": [], "actor": None,
            "backup_policy": {k: policy[k] for k in POLICY_OBJECT_FIELDS},
            "schema_snapshot": None,
            "database_branch": {"id": f"br-{database}-{branch}", "name": branch, "created_at": _iso(started),
                                "updated_at": _iso(started), "deleted_at": None},
        }
        self.backups.setdefault((organization, database, branch), []).append(backup)
        # The policy ran when its newest backup started, as PlanetScale's `last_ran_at` says.
        if policy["last_ran_at"] is None or policy["last_ran_at"] < backup["started_at"]:
            policy["last_ran_at"] = backup["started_at"]
        return backup

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

    def dashboard_change(self, organization: str, database: str, policy_id: str, **values: Any) -> dict[str, Any]:
        """A change made in PlanetScale's dashboard, not through the API: checked as a PATCH body is."""
        problem = validate_policy_body(values, partial=True)
        if problem:
            raise ValueError(problem)
        with self.lock:
            updated = {**self.policies[(organization, database)][policy_id], **values}
            problem = normalise_schedule(updated)
            if problem:
                raise ValueError(problem)
            updated["display_name"] = f"Backup policy {updated['name']}"
            updated["updated_at"] = _iso(_now())
            updated["next_run_at"] = next_run(updated)
            self.policies[(organization, database)][policy_id] = updated
            return copy.deepcopy(updated)

    def dashboard_delete(self, organization: str, database: str, policy_id: str) -> None:
        """A policy deleted in PlanetScale's dashboard (the bot never deletes one)."""
        with self.lock:
            del self.policies[(organization, database)][policy_id]

    def fail_backup(self, organization: str, database: str, policy_id: str) -> dict[str, Any]:
        """The policy's newest backup, failed just now."""
        with self.lock:
            return self.add_backup(organization, database, policy_id, state="failed")

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def calls(self, method: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if method is None or r.method == method]

    def over_rate_limit(self, token_id: str) -> bool:
        """Count a request of this token; True when it goes over `rate_limit`. Call with `lock` held."""
        return self.rate_limit_wait(token_id) is not None

    def rate_limit_wait(self, token_id: str) -> float | None:
        """Count a request of this token; None when within `rate_limit`, else the seconds until the window admits
        the next one. Call with `lock` held."""
        if self.rate_limit is None:
            return None
        allowed, window = self.rate_limit
        now = self.clock()
        recent = self._recent.setdefault(token_id, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= allowed:
            self.rate_limited += 1
            return max(0.0, recent[0] + window - now)
        recent.append(now)
        return None

    def clear_record(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()


RETENTION_HOURS = {"hour": 1, "day": 24, "week": 168, "month": 720, "year": 8760}
POLICY_OBJECT_FIELDS = ("id", "display_name", "name", "target", "retention_value", "retention_unit", "frequency_value",
                        "frequency_unit", "schedule_time", "schedule_day", "schedule_week", "created_at",
                        "updated_at", "last_ran_at", "next_run_at", "required")


def seed_backups(state: PlanetScaleState, organization: str, database: str, runs: int = 6) -> None:
    """A healthy history: each policy's last `runs` backups succeeded, one period apart."""
    for policy_id, policy in state.policies[(organization, database)].items():
        every = policy["frequency_value"] * RETENTION_HOURS.get(policy["frequency_unit"], 24)
        for run in reversed(range(runs)):
            state.add_backup(organization, database, policy_id, hours_ago=1 + run * every)


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
    seed_backups(state, "acme", "app-db")
    seed_backups(state, "acme", "billing-db", runs=2)
    state.grant(DEMO_TOKEN_ID, DEMO_TOKEN, "acme")
    state.add_member("acme", "alice@acme.example", "Alice Admin", "admin")
    state.add_member("acme", "bob@acme.example", "Bob Builder", "member")
    state.add_member("acme", "carol@acme.example", "Carol Lead", "admin")
    return state


def next_run(policy: dict[str, Any], now: datetime | None = None) -> str | None:
    """The next run after now for the policy's schedule (UTC); None past the calendar's end (year 9999)."""
    try:
        return _next_run(policy, now or _now())
    except OverflowError:
        return None  # e.g. every 10**12 hours: the spec lets next_run_at be null


def _next_run(policy: dict[str, Any], now: datetime) -> str:
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
                405: "method_not_allowed", 422: "unprocessable", 429: "rate_limited"}
TIME_PATTERN = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json_body(raw: bytes) -> tuple[Any, str | None]:
    """The body as JSON, or (its text, why the API cannot read it). JSON travels as UTF-8 (RFC 8259)."""
    if not raw:
        return None, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw.decode("utf-8", "replace"), f"The request body is not UTF-8 (byte {exc.start} is not)"
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        return text, "The request body is not valid JSON: it nests too deeply"
    except ValueError as exc:
        return text, f"The request body is not valid JSON: {exc}"
    try:
        # An escaped lone surrogate ("\ud800") parses, but names no character and cannot be stored or answered.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return text, "The request body is not valid JSON: it escapes a lone UTF-16 surrogate"
    return body, None


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
    if "schedule_time" in body and not TIME_PATTERN.fullmatch(body["schedule_time"]):
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
            Route(base + "/databases", self.list_databases, methods=["GET"]),
            Route(base + "/databases/{database}", self.get_database, methods=["GET"]),
            Route(base + "/databases/{database}/branches", self.list_branches, methods=["GET"]),
            Route(base + "/databases/{database}/branches/{branch}/backups", self.list_backups, methods=["GET"]),
            Route(base + "/databases/{database}/branches/{branch}/backups/{id}", self.get_backup, methods=["GET"]),
            Route(base + "/members", self.list_members, methods=["GET"]),
            Route(base + "/members/{id}", self.get_member, methods=["GET"]),
            Route(base + "/service-tokens/{id}", self.get_service_token, methods=["GET"]),
            Route("/_emulator/faults", self.control_faults, methods=["POST", "DELETE"]),
            Route("/_emulator/requests", self.control_requests, methods=["GET"]),
        ], exception_handlers={HTTPException: self.routing_error})
        # Paths are matched after the optional /v1 prefix, as the real base URL carries it.
        self._inner = self.app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            # As a mount point: routes match below /v1, and URLs the emulator gives back keep it.
            scope = dict(scope, root_path=scope.get("root_path", "") + "/v1")
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        scope = dict(scope, state=dict(scope.get("state") or {}))
        shared = scope["state"]

        async def answer(message: MutableMapping[str, Any]) -> None:
            lost: Fault | None = shared.get("lost_answer")
            if lost is None:
                await send(message)
            elif message["type"] == "http.response.start":
                await send({"type": "http.response.start", "status": lost.status or 504,
                            "headers": [(b"content-type", b"application/json"),
                                        (FAULT_HEADER.lower().encode(), b"status")]})
            elif not message.get("more_body"):
                await send({"type": "http.response.body", "body": b"{}"})

        await self._inner(scope, receive, answer)

    async def routing_error(self, request: Request, exc: Exception) -> Response:
        """An unknown path or method: the status Starlette chose, with the API's error body and headers."""
        assert isinstance(exc, HTTPException)
        code = STATUS_CODES.get(exc.status_code, "bad_request")
        message = "Not Found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"code": code, "message": message}, status_code=exc.status_code,
                            headers=dict(exc.headers or {}))

    # --- the shared front of every API call --------------------------------------------------------

    async def _front(self, request: Request, access: str, database: str | None) -> Response | None:
        body, unreadable = read_json_body(await request.body())
        state = self.state
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))  # as below the base URL
        with state.lock:
            state.requests.append(RecordedRequest(request.method, path, dict(request.query_params),
                                                  body, request.headers.get("authorization")))
            fault = next((f for f in state.faults if f.matches(request.method, path)), None)
            if fault and fault.times is not None:
                fault.times -= 1
            token_id = (request.headers.get("authorization") or "").partition(":")[0].strip()
            limited = state.rate_limit_wait(token_id)
            retry_after = state.rate_limit_retry_after
        if limited is not None:
            answer = _error(429, "rate_limited", "Rate limit exceeded")
            if retry_after:
                answer.headers["Retry-After"] = str(max(1, math.ceil(limited)))
            return answer
        if fault:
            if fault.until is not None:
                await asyncio.to_thread(fault.until.wait, 60)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.landed:
                request.state.lost_answer = fault  # answered by __call__ once the request is carried out
            elif fault.status:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                headers[FAULT_HEADER] = "status" if fault.body is None else "body"
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
        if unreadable and request.method in ("POST", "PATCH"):
            return _error(400, "bad_request", unreadable)
        request.state.body = body
        return None

    # --- operations ---------------------------------------------------------------------------------

    async def list_or_create(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
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
            with state.lock:
                # Made now, as PlanetScale stamps it: set-up's default (made long ago) would hide it from a watch
                # that first read the database before, and judge it stale for lacking backups it never had time for.
                made = _iso(_now())
                policy = state.add_policy(org, db, **{**body, "created_at": made, "updated_at": made})
                problem = normalise_schedule(policy)
                if problem:
                    del state.policies[(org, db)][policy["id"]]
                    return _error(422, "invalid_params", problem)
                return JSONResponse(copy.deepcopy(policy), status_code=201)
        with state.lock:
            items = sorted(state.policies[(org, db)].values(), key=lambda p: p["created_at"] + p["id"])
            return self._page(request, copy.deepcopy(items))

    async def one_policy(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        org, db, policy_id = (request.path_params[k] for k in ("organization", "database", "id"))
        access = {"GET": "read_backups"}.get(request.method, "write_backups")
        refused = await self._front(request, access, db)
        if refused:
            return refused
        with state.lock:
            policies = state.policies[(org, db)]
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
            for watcher in state.patch_watchers:
                watcher(org, db, copy.deepcopy(current), copy.deepcopy(body))
            updated["display_name"] = f"Backup policy {updated['name']}"
            updated["updated_at"] = _iso(_now())
            updated["next_run_at"] = next_run(updated)
            policies[policy_id] = updated
            return JSONResponse(copy.deepcopy(updated))

    async def get_database(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        db = request.path_params["database"]
        refused = await self._front(request, "read_database", db)
        if refused:
            return refused
        return JSONResponse(copy.deepcopy(state.databases[(request.path_params["organization"], db)]))

    @staticmethod
    def _bad_query(request: Request, booleans: tuple[str, ...] = (),
                   enums: dict[str, tuple[str, ...]] | None = None) -> Response | None:
        """A query parameter of the wrong type is refused as PlanetScale's spec refuses it."""
        for name in booleans:
            if name in request.query_params and request.query_params[name] not in ("true", "false"):
                return _error(400, "bad_request", f"{name} must be true or false")
        for name, allowed in (enums or {}).items():
            if name in request.query_params and request.query_params[name] not in allowed:
                return _error(400, "bad_request", f"{name} must be one of {', '.join(allowed)}")
        return None

    async def list_databases(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        refused = await self._front(request, "read_database", None)
        if refused:
            return refused
        org = request.path_params["organization"]
        token_id = (request.headers.get("authorization") or "").partition(":")[0].strip()
        grant = state.tokens[token_id]
        query = request.query_params.get("q", "").lower()
        with state.lock:
            items = [d for (o, name), d in sorted(state.databases.items())
                     if o == org and grant.allows(org, name, "read_database") and query in name]
            return self._page(request, copy.deepcopy(items), totals=True)

    async def list_branches(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        org, db = request.path_params["organization"], request.path_params["database"]
        refused = await self._front(request, "read_database", db)
        if refused:
            return refused
        bad = self._bad_query(request, ("production", "safe_migrations"), {"order": ("asc", "desc")})
        if bad:
            return bad
        wanted = request.query_params.get("production")
        with state.lock:
            items = [b for b in state.branches.get((org, db), [])
                     if wanted is None or b["production"] == (wanted == "true")]
            return self._page(request, copy.deepcopy(items), totals=True)

    @staticmethod
    def _branch_backups(state: PlanetScaleState, request: Request) -> list[dict[str, Any]] | None:
        org, db, branch = (request.path_params[k] for k in ("organization", "database", "branch"))
        if not any(b["name"] == branch for b in state.branches.get((org, db), [])):
            return None
        return list(reversed(state.backups.get((org, db, branch), [])))  # newest first

    async def list_backups(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        refused = await self._front(request, "read_backups", request.path_params["database"])
        if refused:
            return refused
        query = request.query_params
        bad = self._bad_query(request, ("all", "production"),
                              {"state": ("pending", "running", "success", "failed", "canceled", "ignored")})
        if bad:
            return bad
        with state.lock:
            found = self._branch_backups(state, request)
            if found is None:
                return _error(404, "not_found", "Not Found")
            items = [b for b in found
                     if ("state" not in query or b["state"] == query["state"])
                     and ("policy" not in query or (b["backup_policy"] or {}).get("id") == query["policy"])
                     and ("from" not in query or b["created_at"] >= query["from"])
                     and ("to" not in query or b["created_at"] <= query["to"])]
            return self._page(request, copy.deepcopy(items), totals=True)

    async def get_backup(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        refused = await self._front(request, "read_backups", request.path_params["database"])
        if refused:
            return refused
        with state.lock:
            found = self._branch_backups(state, request) or []
            backup = next((b for b in found if b["id"] == request.path_params["id"]), None)
            if backup is None:
                return _error(404, "not_found", "Not Found")
            return JSONResponse(copy.deepcopy(backup))

    async def list_members(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        refused = await self._front(request, "read_organization", None)
        if refused:
            return refused
        query = request.query_params.get("q", "").lower()
        with state.lock:
            members = [m for m in state.members.get(request.path_params["organization"], [])
                       if not query or query in m["user"]["email"].lower() or query in m["user"]["name"].lower()]
            return self._page(request, copy.deepcopy(members), totals=True)

    async def get_member(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        refused = await self._front(request, "read_organization", None)
        if refused:
            return refused
        for member in state.members.get(request.path_params["organization"], []):
            if member["id"] == request.path_params["id"]:
                return JSONResponse(copy.deepcopy(member))
        return _error(404, "not_found", "Not Found")

    async def get_service_token(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        refused = await self._front(request, "read_organization", None)
        if refused:
            return refused
        org, token_id = request.path_params["organization"], request.path_params["id"]
        grant = state.tokens.get(token_id)
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
        texts = (request.query_params.get("page", "1"), request.query_params.get("per_page", "25"))
        # Every value given, not only the one used (`?page=false&page=0` is refused as the spec refuses it), each
        # the spec's integer as JSON writes it: int() would also take spaces, "+" or "_" around the digits.
        given = [v for name in ("page", "per_page") for v in request.query_params.getlist(name)]
        if not all(re.fullmatch(r"-?[0-9]{1,9}", text) for text in [*texts, *given]):
            return _error(400, "bad_request", "page and per_page must be integers")
        page, per_page = max(1, int(texts[0])), min(100, max(1, int(texts[1])))
        start = (page - 1) * per_page
        last = start + per_page >= len(items)
        envelope: dict[str, Any] = {
            "type": "list", "current_page": page, "per_page": per_page,
            "next_page": None if last else page + 1,
            "next_page_url": None if last else str(request.url.include_query_params(page=page + 1)),
            "prev_page": page - 1 if page > 1 else None,
            "prev_page_url": str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
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
