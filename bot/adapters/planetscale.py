"""PlanetScale's API, the parts this product uses: backup policies, one database, organization members.

Every failure becomes a `PlanetScaleError` whose `user_message` can be shown as is: it never holds the
token, and it says what to do. A read is retried with backoff after a 429, a 5xx or a timeout, honouring
`Retry-After`, a bounded number of times. A write (PATCH, POST, DELETE) is repeated only when PlanetScale
certainly did not carry it out: a 429, or a connection that never opened. After a 5xx or a lost answer it may
have landed, and a second send could land on a policy changed since: the change path settles it by reading.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from bot.adapters import planetscale_answers as answers
from bot.adapters.planetscale_answers import backups_read, error_body, holding, next_page, not_json
from bot.adapters.rate_limit import RateLimiter, describe_wait, retry_after_seconds
from bot.adapters.within import Within, one_try_seconds, read_within
from bot.domain.backups import Backup, Branch, now_utc
from bot.domain.naming import outside
from bot.domain.policy import PATH_SEGMENT, BackupPolicy, PolicyUpdate
from bot.domain.ports import (
    MOST_LISTED,
    BadResponse,
    Forbidden,
    ListCut,
    Member,
    NotFound,
    NotSent,
    PartlyUnreadable,
    PlanetScaleError,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
    Unreachable,
    note_wait,
    pages_apart,
    request_cap,
    request_meter,
    send_fence,
    wait_noted,
)

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.planetscale.com/v1"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
PER_PAGE = 100
MAX_PAGES = MOST_LISTED // PER_PAGE
# A page holds at most PER_PAGE items of a few kilobytes: a body past this is not one, and is not read whole.
MOST_BODY_BYTES = 16 * 2**20


class _Retryable(Exception):
    def __init__(self, error: PlanetScaleError, retry_after: float | None, *, unread: bool = False):
        self.error = error
        self.retry_after = retry_after
        # PlanetScale certainly did not act on it: refused unread (429) or never reached.
        self.unread = unread or isinstance(error, RateLimited)


def _repeatable(method: str, exc: BaseException) -> bool:
    return isinstance(exc, _Retryable) and (method == "GET" or exc.unread)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this is not waited for: the user is told when to try again instead.
    max_retry_after: float = 20.0


def segment(value: str, what: str) -> str:
    """One path segment: checked, then percent-encoded, so that no input can reach another path."""
    if not PATH_SEGMENT.fullmatch(value):
        raise NotSent(f"“{outside(value[:64])}” is not a valid {what} (letters, digits, `-` and `_`, at most 128), so "
                      "nothing was sent to PlanetScale.")
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
        self.token_id = token_id  # names the token, whose budget instances share; hidden in error text as it is
        self._token = token  # hidden in any error text that echoes it
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"{token_id}:{token}", "Accept": "application/json",
                     "User-Agent": "backup-policy-bot/0.1"},
            timeout=timeout or DEFAULT_TIMEOUT,
            transport=transport,
            follow_redirects=False,
        )
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._timeout = timeout or DEFAULT_TIMEOUT
        # Each try's answer, head and body, within its timeouts summed: httpx bounds each read, not the whole.
        self._within = Within(self._http, "planetscale")
        self.limiter = limiter
        self.people_in_flight = 0  # requests sent for people (not the watch), not yet answered
        self._people_lock = threading.Lock()

    def people_first(self) -> bool:
        """Whether people's requests need PlanetScale now: one is under way, or the budget is short for them."""
        return self.people_in_flight > 0 or (self.limiter is not None and self.limiter.busy())

    def worst_case_seconds(self) -> float:
        """The longest one call can take with every attempt timing out and every wait at its longest: how long
        a worker that has sent a request may still be waiting on it."""
        one_try = one_try_seconds(self._timeout)
        # Each attempt first takes its turn in the rate limiter, which never holds one longer than max_wait.
        if self.limiter is not None:
            one_try += self.limiter.max_wait
        longest_wait = max(self.retry.max_delay, self.retry.max_retry_after)
        return self.retry.attempts * one_try + (self.retry.attempts - 1) * longest_wait

    def __repr__(self) -> str:  # never the token
        return f"PlanetScaleClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._within.close()
        self._http.close()

    # --- operations -------------------------------------------------------------------------------

    def list_policies(self, organization: str, database: str) -> list[BackupPolicy]:
        path = f"organizations/{segment(organization, 'organization')}/databases/" \
               f"{segment(database, 'database')}/backup-policies"
        where = f"{organization}/{database}"
        # By ID: a list read page by page while it shifts holds a policy twice, and a policy is counted once (a
        # floor of policies, a bulk change's members); the later read stands, in the place of the first.
        readable: dict[str, BackupPolicy] = {}
        unreadable: dict[str, str] = {}
        for place, item in enumerate(self._pages(path, where, "read_backups", whole=True), start=1):
            try:
                policy = self._policy(item, where)
                readable[policy.id] = policy
            except BadResponse as exc:
                given = item.get("id")
                unreadable[given if isinstance(given, str) else f"number {place} of the list"] = exc.user_message
        if unreadable:
            raise PartlyUnreadable(next(iter(unreadable.values())), list(readable.values()), unreadable)
        return list(readable.values())

    def get_policy(self, organization: str, database: str, policy_id: str) -> BackupPolicy:
        where = f"{organization}/{database}"
        data = self._call("GET", self._policy_path(organization, database, policy_id), where, "read_backups")
        return answers.the_one_asked(read := self._policy(data, where), policy_id, read.id, where)

    def update_policy(self, organization: str, database: str, policy_id: str, update: PolicyUpdate) -> BackupPolicy:
        where = f"{organization}/{database}"
        data = self._call("PATCH", self._policy_path(organization, database, policy_id), where,
                          "write_backups", json=update.to_api())
        # The answer is the policy after the change: one not holding what was sent did not take it as sent.
        read = answers.the_one_asked(read := self._policy(data, where), policy_id, read.id, where)
        return holding(read, update.to_api(), f"the change for {where} with the policy",
                       "it again to learn what it holds")

    def create_policy(self, organization: str, database: str, values: PolicyUpdate) -> BackupPolicy:
        """POST once: a POST that got no answer may have made the policy, and a second one would make another.
        Only a 429 (PlanetScale refused it unread) is sent again."""
        path = f"organizations/{segment(organization, 'organization')}/databases/" \
               f"{segment(database, 'database')}/backup-policies"
        where = f"{organization}/{database}"
        data = self._call("POST", path, where, "write_backups", json=values.to_api())
        # As a PATCH's: a policy not holding what was sent is not known to be the one the POST made.
        return holding(answers.the_one_asked(made := self._policy(data, where), str(values.name), made.name, where),
                       values.to_api(), f"the creation for {where} with a policy", "the policies again to learn "
                       "what was made")

    def delete_policy(self, organization: str, database: str, policy_id: str) -> None:
        """DELETE (204). Repeating it is safe: a second DELETE of a policy gone answers 404."""
        where = f"{organization}/{database}"
        self._call("DELETE", self._policy_path(organization, database, policy_id), where, "write_backups")

    def find_members(self, organization: str, query: str) -> list[Member]:
        path = f"organizations/{segment(organization, 'organization')}/members"
        members, unreadable = [], {}
        for place, item in enumerate(self._pages(path, organization, "read_organization", params={"q": query}),
                                     start=1):
            user = item.get("user") or {}
            try:
                members.append(Member(id=item["id"], role=item["role"], email=user.get("email") or "",
                                      name=user.get("name") or user.get("display_name") or ""))
            except (KeyError, ValidationError, TypeError, AttributeError):
                given = item.get("id")
                unreadable[given if isinstance(given, str) and given else f"number {place} of the list"] = \
                    "its ID, role or user cannot be read"
        if unreadable:
            raise PartlyUnreadable("PlanetScale answered with a member list this bot cannot read whole.", members,
                                   unreadable)
        return members

    def list_databases(self, organization: str) -> list[str]:
        """The names of the organization's databases the token may see, every page."""
        path = f"organizations/{segment(organization, 'organization')}/databases"
        names: list[str] = []
        unreadable: dict[str, str] = {}
        try:
            for place, item in enumerate(self._pages(path, organization, "read_database", whole=True), start=1):
                if isinstance(item.get("name"), str) and item["name"]:
                    names.append(item["name"])
                else:
                    given = item.get("id")
                    unreadable[given if isinstance(given, str) and given else f"number {place} of the list"] = \
                        "its name cannot be read"
        except answers.CutShort as exc:
            raise ListCut(answers.not_all_listed(
                "databases", organization, exc.taken, "Name a database rather than a pattern to reach one past "
                "them."), names, unreadable, exc.taken) from None
        if unreadable:
            raise PartlyUnreadable(f"PlanetScale answered for {organization} with a database list this bot cannot "
                                   "read whole.", names, unreadable)
        return names

    def database_kind(self, organization: str, database: str) -> str:
        """The database's `kind` (`mysql` for Vitess, `postgresql`), from `GET …/databases/{db}`."""
        path = f"organizations/{segment(organization, 'organization')}/databases/{segment(database, 'database')}"
        where = f"{organization}/{database}"
        body = self._call("GET", path, where, "read_database")
        kind = body.get("kind") if isinstance(body, dict) and isinstance(body.get("kind"), str) else ""
        if not kind or len(kind) > 64:  # PlanetScale's kinds are short words: a longer one fits no export's line
            raise BadResponse(f"PlanetScale answered for {where} with a database this bot cannot read "
                              f"({f'a kind of {len(kind)} characters' if kind else 'no kind'}).")
        return kind

    def list_branches(self, organization: str, database: str) -> list[Branch]:
        path = f"organizations/{segment(organization, 'organization')}/databases/{segment(database, 'database')}" \
               "/branches"
        where = f"{organization}/{database}"
        # By name, the later read standing: a list that shifts while read holds a branch twice, read once.
        readable: dict[str, Branch] = {}
        unreadable: dict[str, str] = {}
        try:
            for place, item in enumerate(self._pages(path, where, "read_branch", whole=True), start=1):
                try:
                    branch = Branch.model_validate(item)
                    readable[branch.name] = branch
                except ValidationError as exc:
                    given = next((v for v in (item.get("name"), item.get("id")) if isinstance(v, str) and v),
                                 f"number {place} of the list")
                    fields = ", ".join(dict.fromkeys(str(e["loc"][0]) for e in exc.errors() if e["loc"]))
                    unreadable[given] = f"its {fields or 'shape'} cannot be read"
        except answers.CutShort as exc:
            raise ListCut(answers.not_all_listed("branches", where, exc.taken, "Backups on branches past them are "
                                                 "not judged."), list(readable.values()), unreadable,
                          exc.taken) from None
        if unreadable:
            raise PartlyUnreadable(
                f"PlanetScale answered for {where} with a branch list this bot cannot read whole.",
                list(readable.values()), unreadable)
        return list(readable.values())

    def list_backups(self, organization: str, database: str, branch: str, policy_id: str | None,
                     since: str | None = None, state: str | None = None) -> list[Backup]:
        """The branch's backups made by one policy (the `policy` filter; every policy's when None), every page;
        `since` is `from`, `state` the state filter."""
        path = f"organizations/{segment(organization, 'organization')}/databases/{segment(database, 'database')}" \
               f"/branches/{segment(branch, 'branch')}/backups"
        where = f"{organization}/{database} ({branch})"
        params = {**({"policy": policy_id} if policy_id else {}), **({"from": since} if since else {}),
                  **({"state": state} if state else {})}
        return backups_read(self._pages(path, where, "read_backups", params=params), where, now_utc(), policy_id)

    # --- plumbing ---------------------------------------------------------------------------------

    def _policy_path(self, organization: str, database: str, policy_id: str) -> str:
        return (f"organizations/{segment(organization, 'organization')}/databases/"
                f"{segment(database, 'database')}/backup-policies/{segment(policy_id, 'policy ID')}")

    @staticmethod
    def _policy(data: Any, where: str) -> BackupPolicy:
        try:
            return BackupPolicy.model_validate(data, strict=True)  # as JSON has it: `true` or "7" is no integer
        except ValidationError as exc:
            log.warning("planetscale returned a policy that does not match the spec: %s",
                        [(e["loc"], e["msg"]) for e in exc.errors()[:3]])
            fields = ", ".join(dict.fromkeys(str(e["loc"][0]) for e in exc.errors() if e["loc"]))
            raise BadResponse(
                f"PlanetScale answered for {where} with a backup policy this bot cannot read"
                f"{f' (its {fields})' if fields else ''}; nothing was changed by the bot. Try again, and report "
                "it if it persists."
            ) from None

    def _pages(
        self, path: str, where: str, access: str, params: dict[str, str] | None = None, whole: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every item, up to MAX_PAGES pages of PER_PAGE; `whole`: a list cut there ends in BadResponse (cut_short)."""
        page: int | None = 1
        seen = taken = 0
        while page is not None and seen < MAX_PAGES:
            body = self._page(path, where, access, {**(params or {}), "page": str(page), "per_page": str(PER_PAGE)},
                              later=page > 1)
            items = answers.page_items(body, where)
            # A page longer than asked is out of PlanetScale's contract: a list is cut where its pages would end.
            room = MAX_PAGES * PER_PAGE - taken
            yield from items[:room]
            taken += min(len(items), room)
            if len(items) > room:
                break
            page = next_page(body.get("next_page"), page, where, taken, len(items))
            seen += 1
        if page is not None:
            log.warning("planetscale listed more than %d items for %s: the rest is not read", taken, where)
            if whole:
                raise answers.cut_short(where, taken)

    def _page(self, path: str, where: str, access: str, params: dict[str, str], later: bool) -> Any:
        """One page of a list. A wait for a page after the first is told to `pages_apart` as well: the pages
        before it show things as they were before that wait."""
        apart = pages_apart.get() if later else None
        if apart is None:
            return self._call("GET", path, where, access, params=params)
        outer, waited = wait_noted.get(), []

        def noted(seconds: float) -> None:
            waited.append(seconds)
            if outer is not None:
                outer(seconds)

        token = wait_noted.set(noted)
        try:
            return self._call("GET", path, where, access, params=params)
        finally:
            wait_noted.reset(token)
            if waited:
                apart()

    def _call(self, method: str, path: str, where: str, access: str, **kwargs: Any) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            retry=retry_if_exception(lambda e: _repeatable(method, e)),
            wait=self._wait,
            # Logged here, not in `wait`: tenacity computes the wait before it decides to stop, so only
            # before_sleep knows that a retry follows.
            before_sleep=answers.log_retry,
            sleep=self._pause,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, path, where, access, attempt.retry_state.attempt_number > 1,
                                      **kwargs)
        except _Retryable as exc:
            tries = retrying.statistics.get("attempt_number", 1)
            if tries > 1:
                log.warning("planetscale %s failed %d times; giving up (%s)", method, tries, exc.error.user_message)
            if isinstance(exc.error, RateLimited) and exc.retry_after:
                exc.error.user_message += f" Try again in {describe_wait(exc.retry_after)}."
            elif tries > 1:
                exc.error.user_message += f" (tried {tries} times)"
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(min(self.retry.max_delay, self.retry.base_delay * 2 ** (state.attempt_number - 1)))

    def _pause(self, seconds: float) -> None:
        note_wait(seconds)
        (self._sleep or time.sleep)(seconds)

    def _once(self, method: str, path: str, where: str, access: str, again: bool = False, **kwargs: Any) -> Any:
        """One attempt; `again`: a repeat, sent after a wait."""
        meter = request_meter.get()
        if meter is not None:
            meter()
        elif (cap := request_cap.get()) is not None:
            cap()
        waited = self.limiter.acquire() if self.limiter is not None else 0.0
        note_wait(waited)
        fence = send_fence.get() if method != "GET" else None
        if fence is not None:  # last, after any wait for the budget: the lease is checked as the write leaves
            fence(again or waited > 0)
        turn_waited = partial(fence, True) if fence is not None else None  # a wait for a thread to send it
        if meter is not None:
            return self._answer(method, path, where, access, turn_waited, **kwargs)
        with self._people_lock:  # a person's request: the watch holds back until it is answered
            self.people_in_flight += 1
        try:
            return self._answer(method, path, where, access, turn_waited, **kwargs)
        finally:
            with self._people_lock:
                self.people_in_flight -= 1

    def _answer(self, method: str, path: str, where: str, access: str, turn_waited: Callable[[], None] | None,
                **kwargs: Any) -> Any:
        deadline = time.monotonic() + one_try_seconds(self._timeout)
        try:
            response = self._within.send(self._http.build_request(method, path, **kwargs), deadline,
                                         waited=turn_waited)
            try:
                content = self._read(response, where, deadline)
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            # The connection never opened: nothing reached PlanetScale.
            error = Unreachable(f"Could not reach PlanetScale at {self.base_url} for {where}: the connection failed.")
            error.definite = True
            raise _Retryable(error, None, unread=True) from None
        except httpx.TimeoutException:
            raise _Retryable(Unreachable(
                f"PlanetScale did not answer in time for {where}; nothing is known to have changed."
                if method == "GET" else
                f"PlanetScale did not answer in time for {where}: the change may or may not have been "
                "applied; `show` it to check."), None) from None
        except httpx.DecodingError:
            raise BadResponse(f"PlanetScale answered for {where} with a body its Content-Encoding does not "
                              "describe, so it cannot be read.") from None
        except httpx.TransportError:
            raise _Retryable(Unreachable(
                f"Could not reach PlanetScale at {self.base_url} for {where}: the connection failed."
                if method == "GET" else
                f"The connection to PlanetScale broke during {where}: the change may or may not have been "
                "applied; `show` it to check."), None) from None
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not content:
                return None
            try:
                return json.loads(content, parse_constant=not_json)
            except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past reading
                raise BadResponse(f"PlanetScale answered for {where} with a body that is not JSON.",
                                  status=status) from None
        code, said = error_body(content, self._token, self.token_id)
        # PlanetScale's words are text from outside: shown as written, never a mention or markup.
        message = outside(said) if said else None
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
                                         code=code), self._retry_after(response), unread=True)
        if status >= 500:
            raise _Retryable(Unavailable(f"PlanetScale had an error ({status}) for {where}.", status=status,
                                         code=code), self._retry_after(response))
        raise PlanetScaleError(f"PlanetScale answered {status} for {where}: {message or 'no reason given'}.",
                               status=status, code=code)

    def _read(self, response: httpx.Response, where: str, deadline: float) -> bytes:
        """The body, by the try's deadline (worst_case_seconds counts one try as its timeouts summed), and within
        MOST_BODY_BYTES."""
        content = read_within(response, deadline, MOST_BODY_BYTES)
        if content is None:
            raise BadResponse(f"PlanetScale answered for {where} with a body over {MOST_BODY_BYTES // 2**20} MB, "
                              "far more than a page holds; it was not read.", status=response.status_code)
        return content

    def _retry_after(self, response: httpx.Response) -> float | None:
        seconds = retry_after_seconds(response.headers.get("Retry-After"))
        if seconds is not None and seconds > self.retry.max_retry_after:
            # Too long to hold a user waiting: stop retrying and say when to come back.
            error = RateLimited if response.status_code == 429 else Unavailable
            wait = describe_wait(seconds)
            raise error(f"PlanetScale asks to wait {wait} before the next request ({response.status_code}). "
                        f"Try again in {wait}.", status=response.status_code)
        return seconds

