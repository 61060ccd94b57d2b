"""PlanetScale's API, the parts this product uses: backup policies, one database, organization members.

Every failure becomes a `PlanetScaleError` whose `user_message` can be shown as is: it never holds the
token, and it says what to do. 429 and 5xx (and timeouts, which are safe to repeat: every call here is
a read or a PATCH that sets values) are retried with backoff, honouring `Retry-After`, a bounded number
of times.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from bot.policy import BackupPolicy, PolicyUpdate

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.planetscale.com/v1"
PATH_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
MAX_PAGES = 50
PER_PAGE = 100


class PlanetScaleError(Exception):
    """A call to PlanetScale that did not succeed. `user_message` is safe and useful to show anyone."""

    kind = "error"

    def __init__(self, user_message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(user_message)
        self.user_message = user_message
        self.status = status
        self.code = code


class Unauthorized(PlanetScaleError):
    kind = "unauthorized"


class Forbidden(PlanetScaleError):
    kind = "forbidden"


class NotFound(PlanetScaleError):
    kind = "not_found"


class Rejected(PlanetScaleError):
    """PlanetScale refused the request's content (400/422): its own message says why."""

    kind = "rejected"


class RateLimited(PlanetScaleError):
    kind = "rate_limited"


class Unavailable(PlanetScaleError):
    """5xx, a timeout or no connection, still so after the retries."""

    kind = "unavailable"


class BadResponse(PlanetScaleError):
    kind = "bad_response"


class Member(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    role: str
    email: str
    name: str


class _Retryable(Exception):
    def __init__(self, error: PlanetScaleError, retry_after: float | None):
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this is not waited for: the user is told when to try again instead.
    max_retry_after: float = 20.0


class RateLimiter:
    """A token bucket shared by every thread of this process, so that the bot stays within PlanetScale's
    budget (600 requests a minute) and waits instead of collecting 429s.

    PlanetScale does not say how it counts; to stay under the budget in any window of `per` seconds, even a
    sliding one, a burst of `burst` requests (a tenth of the budget) may go at once and the rest of the budget
    is spread over the window, less a margin of 2 % for requests that the network delays unevenly:
    burst + rate × per stays below the budget.
    """

    def __init__(self, requests: int, per: float, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None):
        if requests < 1 or per <= 0:
            raise ValueError("a rate needs at least one request per period")
        self.requests, self.per = requests, per
        self.burst = max(1, requests // 10)
        self.rate = max(requests - self.burst - max(1, requests // 50), 1) / per  # tokens a second
        self._clock = clock or _monotonic
        self._sleep = sleep or _default_sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = self._clock()

    def __repr__(self) -> str:
        return f"RateLimiter({self.requests} per {self.per:g} s)"

    def acquire(self) -> float:
        """Take one token, waiting for it if the bucket is empty; the time waited, in seconds."""
        with self._lock:  # first come, first served: a waiting thread holds its place in the line
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


def parse_rate(text: str) -> RateLimiter:
    """`600/min` (also `/s`, `/h`): a RateLimiter; ValueError naming the form when malformed."""
    count, _, unit = text.replace(" ", "").partition("/")
    seconds = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
    if not (count.isascii() and count.isdigit()) or int(count) < 1 or unit not in seconds:
        raise ValueError("write the number of requests and the period, e.g. 600/min, 10/s or 36000/h")
    return RateLimiter(int(count), seconds[unit])


def segment(value: str, what: str) -> str:
    """One path segment: checked, then percent-encoded, so that no input can reach another path."""
    if not PATH_SEGMENT.match(value):
        raise PlanetScaleError(f"`{value[:64]}` is not a valid {what}: letters, digits, `-` and `_` only.")
    return quote(value, safe="")


class PlanetScaleClient:
    def __init__(
        self,
        token_id: str,
        token: str,
        base_url: str = DEFAULT_API_URL,
        *,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
    ):
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"{token_id}:{token}", "Accept": "application/json",
                     "User-Agent": "backup-policy-bot/0.1"},
            timeout=timeout or httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0),
            transport=transport,
            follow_redirects=False,
        )
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.limiter = limiter

    def __repr__(self) -> str:  # never the token
        return f"PlanetScaleClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    # --- operations -------------------------------------------------------------------------------

    def list_policies(self, organization: str, database: str) -> list[BackupPolicy]:
        path = f"organizations/{segment(organization, 'organization')}/databases/" \
               f"{segment(database, 'database')}/backup-policies"
        where = f"{organization}/{database}"
        return [self._policy(item, where) for item in self._pages(path, where, "read_backups")]

    def get_policy(self, organization: str, database: str, policy_id: str) -> BackupPolicy:
        where = f"{organization}/{database}"
        data = self._call("GET", self._policy_path(organization, database, policy_id), where, "read_backups")
        return self._policy(data, where)

    def update_policy(
        self, organization: str, database: str, policy_id: str, update: PolicyUpdate
    ) -> BackupPolicy:
        where = f"{organization}/{database}"
        data = self._call("PATCH", self._policy_path(organization, database, policy_id), where,
                          "write_backups", json=update.to_api())
        return self._policy(data, where)

    def get_database(self, organization: str, database: str) -> dict[str, Any]:
        path = f"organizations/{segment(organization, 'organization')}/databases/{segment(database, 'database')}"
        data = self._call("GET", path, f"{organization}/{database}", "read_database")
        if not isinstance(data, dict):
            raise BadResponse("PlanetScale answered with something that is not a database.")
        return data

    def find_members(self, organization: str, query: str) -> list[Member]:
        path = f"organizations/{segment(organization, 'organization')}/members"
        members = []
        for item in self._pages(path, organization, "read_organization", params={"q": query}):
            user = item.get("user") or {}
            try:
                members.append(Member(id=item["id"], role=item["role"], email=user.get("email", ""),
                                      name=user.get("name") or user.get("display_name") or ""))
            except (KeyError, ValidationError, TypeError):
                raise BadResponse("PlanetScale answered with a member list this bot cannot read.") from None
        return members

    # --- plumbing ---------------------------------------------------------------------------------

    def _policy_path(self, organization: str, database: str, policy_id: str) -> str:
        return (f"organizations/{segment(organization, 'organization')}/databases/"
                f"{segment(database, 'database')}/backup-policies/{segment(policy_id, 'policy ID')}")

    @staticmethod
    def _policy(data: Any, where: str) -> BackupPolicy:
        try:
            return BackupPolicy.model_validate(data)
        except ValidationError as exc:
            log.warning("planetscale returned a policy that does not match the spec: %s", exc.errors()[:3])
            raise BadResponse(
                f"PlanetScale answered for {where} with a backup policy this bot cannot read; "
                "nothing was changed by the bot. Try again, and report it if it persists."
            ) from None

    def _pages(
        self, path: str, where: str, access: str, params: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        page: int | None = 1
        seen = 0
        while page is not None and seen < MAX_PAGES:
            body = self._call("GET", path, where, access, params={**(params or {}), "page": str(page),
                                                                  "per_page": str(PER_PAGE)})
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise BadResponse(f"PlanetScale answered for {where} with a list this bot cannot read.")
            yield from body["data"]
            next_page = body.get("next_page")
            page = next_page if isinstance(next_page, int) and next_page > page else None
            seen += 1

    def _call(self, method: str, path: str, where: str, access: str, **kwargs: Any) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            wait=self._wait,
            sleep=self._sleep or _default_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, path, where, access, **kwargs)
        except _Retryable as exc:
            tries = self.retry.attempts
            if isinstance(exc.error, RateLimited) and exc.retry_after:
                wait = int(exc.retry_after + 0.999)
                exc.error.user_message += f" Try again in {wait} second{'s' if wait != 1 else ''}."
            elif tries > 1:
                exc.error.user_message += f" (tried {tries} times)"
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            delay = exc.retry_after
        else:
            delay = float(min(self.retry.max_delay, self.retry.base_delay * 2 ** (state.attempt_number - 1)))
        reason = exc.error.user_message if isinstance(exc, _Retryable) else exc
        log.warning("planetscale attempt %d failed (%s); retrying in %.1f s", state.attempt_number, reason, delay)
        return delay

    def _once(self, method: str, path: str, where: str, access: str, **kwargs: Any) -> Any:
        if self.limiter is not None:
            self.limiter.acquire()
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise _Retryable(Unavailable(
                f"PlanetScale did not answer in time for {where}; nothing is known to have changed."
                if method == "GET" else
                f"PlanetScale did not answer in time for {where}: the change may or may not have been "
                "applied; `show` it to check."), None) from None
        except httpx.TransportError:
            raise _Retryable(Unavailable(
                f"Could not reach PlanetScale at {self.base_url} for {where}: the connection failed."),
                None) from None
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except json.JSONDecodeError:
                raise BadResponse(f"PlanetScale answered for {where} with a body that is not JSON.",
                                  status=status) from None
        code, message = _error_body(response)
        log.info("planetscale %s %s answered %s %s", method, response.request.url.path, status, code)
        if status == 401:
            raise Unauthorized(
                "PlanetScale refused the service token (401): check PLANETSCALE_SERVICE_TOKEN_ID and "
                "PLANETSCALE_SERVICE_TOKEN, or create a new token.", status=status, code=code)
        if status == 403:
            raise Forbidden(
                f"The service token may not do this on {where} (403): give it `{access}` access on that "
                "database in PlanetScale's organization settings → Service tokens.", status=status, code=code)
        if status == 404:
            raise NotFound(
                f"PlanetScale found nothing at {where} (404). Check the names; if they are right, the "
                f"service token lacks `{access}` access on that database.", status=status, code=code)
        if status in (400, 409, 422):
            raise Rejected(f"PlanetScale rejected the change ({status}): {message or 'no reason given'}.",
                           status=status, code=code)
        if status == 429:
            raise _Retryable(RateLimited("PlanetScale is rate limiting this token (429).", status=status,
                                         code=code), self._retry_after(response))
        if status >= 500:
            raise _Retryable(Unavailable(f"PlanetScale had an error ({status}) for {where}.", status=status,
                                         code=code), self._retry_after(response))
        raise PlanetScaleError(f"PlanetScale answered {status} for {where}: {message or 'no reason given'}.",
                               status=status, code=code)

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = max(0.0, float(value))
        except ValueError:
            return None
        if seconds > self.retry.max_retry_after:
            # Too long to hold a user waiting: stop retrying and say when to come back.
            error = RateLimited if response.status_code == 429 else Unavailable
            raise error(
                f"PlanetScale asks to wait {int(seconds)} seconds before the next request "
                f"({response.status_code}). Try again in {int(seconds)} seconds.", status=response.status_code)
        return seconds


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


def _monotonic() -> float:
    return time.monotonic()


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, message = body.get("code"), body.get("message")
    return (str(code) if code else None), (str(message)[:300] if message else None)
