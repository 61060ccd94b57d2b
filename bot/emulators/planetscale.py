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
from collections.abc import MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.emulators.planetscale_checks import normalise_schedule, read_json_body, validate_policy_body
from bot.emulators.planetscale_demo import seed_demo
from bot.emulators.planetscale_schedule import iso_time, next_run, utc_now
from bot.emulators.planetscale_state import (
    BRANCH_READERS,
    DATABASE_READERS,
    FAULT_HEADER,
    Fault,
    PlanetScaleState,
    RecordedRequest,
)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 422: "unprocessable", 429: "rate_limited"}


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
                status = lost.status or 504
                # Below 500, the API's error body, as an answer that did not land has.
                body = {"code": STATUS_CODES.get(status, "internal_server_error"),
                        "message": f"emulated {status}"} if status < 500 else {}
                await send({"type": "http.response.body", "body": json.dumps(body).encode()})

        await self._inner(scope, receive, answer)

    async def routing_error(self, request: Request, exc: Exception) -> Response:
        """An unknown path or method: the status Starlette chose, with the API's error body and headers."""
        assert isinstance(exc, HTTPException)
        code = STATUS_CODES.get(exc.status_code, "bad_request")
        message = "Not Found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"code": code, "message": message}, status_code=exc.status_code,
                            headers=dict(exc.headers or {}))

    # --- the shared front of every API call --------------------------------------------------------

    async def _front(self, request: Request, access: str | frozenset[str], database: str | None) -> Response | None:
        body, unreadable = read_json_body(await request.body())
        state = self.state
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))  # as below the base URL
        with state.lock:
            state.requests.append(RecordedRequest(request.method, path, dict(request.query_params),
                                                  body, request.headers.get("authorization")))
            fault = next((f for f in state.faults if f.matches(request.method, path)), None)
            if fault and fault.skip:
                fault.skip -= 1
                fault = None
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
                headers.update(fault.headers or {})
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
        if isinstance(access, str) and access.startswith("write"):
            read = access.replace("write", "read")
            if not grant.allows(organization, database, read):
                return _error(404, "not_found", "Not Found")
        if not grant.allows(organization, database, access):
            if isinstance(access, str) and (access.startswith("write") or access == "read_organization"):
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
                made = iso_time(utc_now())
                policy = state.add_policy(org, db, **{**body, "created_at": made, "updated_at": made})
                problem = normalise_schedule(policy)
                if problem:
                    del state.policies[(org, db)][policy["id"]]
                    return _error(422, "invalid_params", problem)
                return JSONResponse(copy.deepcopy(policy), status_code=201)
        with state.lock:
            items = sorted(state.policies[(org, db)].values(), key=lambda p: p["created_at"] + p["id"])
            return self._page(request, items)

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
            updated["updated_at"] = iso_time(utc_now())
            updated["next_run_at"] = next_run(updated)
            policies[policy_id] = updated
            return JSONResponse(copy.deepcopy(updated))

    async def get_database(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        db = request.path_params["database"]
        refused = await self._front(request, DATABASE_READERS, db)
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
        refused = await self._front(request, DATABASE_READERS, None)
        if refused:
            return refused
        org = request.path_params["organization"]
        token_id = (request.headers.get("authorization") or "").partition(":")[0].strip()
        grant = state.tokens[token_id]
        query = request.query_params.get("q", "").lower()
        with state.lock:
            items = [d for (o, name), d in sorted(state.databases.items())
                     if o == org and grant.allows(org, name, DATABASE_READERS) and query in name]
            return self._page(request, items, totals=True)

    async def list_branches(self, request: Request) -> Response:
        state = self.state  # this test's, even if a delayed answer outlives it
        org, db = request.path_params["organization"], request.path_params["database"]
        refused = await self._front(request, BRANCH_READERS, db)
        if refused:
            return refused
        bad = self._bad_query(request, ("production", "safe_migrations"), {"order": ("asc", "desc")})
        if bad:
            return bad
        wanted = request.query_params.get("production")
        with state.lock:
            items = [b for b in state.branches.get((org, db), [])
                     if wanted is None or b["production"] == (wanted == "true")]
            return self._page(request, items, totals=True)

    @staticmethod
    def _branch_backups(state: PlanetScaleState, request: Request) -> list[dict[str, Any]] | None:
        org, db, branch = (request.path_params[k] for k in ("organization", "database", "branch"))
        if not any(b["name"] == branch for b in state.branches.get((org, db), [])):
            return None
        found = state.backups.get((org, db, branch), [])
        return list(found) if state.backups_oldest_first else list(reversed(found))  # newest first unless asked

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
            return self._page(request, items, totals=True)

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
            return self._page(request, members, totals=True)

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
        stamp = iso_time(utc_now())
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
        page, per_page = max(1, int(texts[0])), min(self.state.per_page_most, max(1, int(texts[1])))
        start = (page - 1) * per_page
        last = start + per_page >= len(items)
        only = self.state.next_page_only
        named = self.state.next_page if only is None or only in request.url.path else None
        envelope: dict[str, Any] = {
            "type": "list", "current_page": page, "per_page": per_page,
            "next_page": (None if last else page + 1) if named is None else named(page, None if last else page + 1),
            "next_page_url": None if last else str(request.url.include_query_params(page=page + 1)),
            "prev_page": page - 1 if page > 1 else None,
            "prev_page_url": str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
            "data": copy.deepcopy(items[start:start + per_page]),  # only the page's: a list of thousands stays cheap
        }
        if totals:
            envelope["total_count"] = len(items)
            envelope["total_pages"] = max(1, -(-len(items) // per_page))
        # A next page a test named is a body it chose, out of the spec as it may be.
        return JSONResponse(envelope, headers={FAULT_HEADER: "body"} if named is not None else None)

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
