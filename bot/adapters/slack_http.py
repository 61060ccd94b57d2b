"""Slack's Web API and response URLs over kept-alive connections.

slack_sdk's synchronous clients send each call over urllib, which opens a new connection every time: a TCP and
a TLS handshake before every post a person waits for. Here every call goes through one `httpx.Client`, whose
pool keeps connections alive and is safe to share between threads. slack_sdk still names the methods, builds
their arguments and judges the answers (`SlackResponse.validate`, `SlackApiError`): `SlackClient` answers
WebClient's public `api_call`, through which each of its methods goes, and `KeptAliveRespond` is Bolt's
`respond` posting the same message through the same pool.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.error import URLError

import httpx
from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookResponse

from bot.adapters.rate_limit import describe_wait, retry_after_seconds
from bot.adapters.slack_shapes import ACTS, ACTS_UNREAD, UNREADABLE, UnreadableAnswer, described, readable
from bot.adapters.within import Within, one_try_seconds, read_within
from bot.domain.ports import note_wait

log = logging.getLogger(__name__)

# Slack's answers worth another try: rate limited, or a server error that says nothing was done.
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# Calls that make a new message each time they are sent: a 5xx may come after Slack made it (a proxy's page), so
# such a call is not sent again on one; its callers look before posting again, as for an answer lost.
MADE_EACH_TIME = frozenset({"chat.postMessage"})
# The calls that carry a trigger_id, and how long Slack takes one after the click or command that gave it.
TRIGGERED, TRIGGER_SECONDS = frozenset({"views.open", "views.push"}), 3.0
# Failures after which the request surely did not reach the server whole: no connection, or a request not
# sent in full. A reset or a close after it was sent may come after Slack acted on it (a post made), so it is
# not sent again here; the callers that post look before posting again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError, httpx.WriteTimeout)
# How long an idle connection is kept: shorter than the server's own idle timeout, so the bot, not the server,
# ends it, and a request never crosses the server's close (a reset after the request was sent). uvicorn, the
# emulators' server, closes after 5 s; Slack keeps idle connections at least that long.
IDLE_SECONDS = 4.0
# Slack's answers are a few kilobytes, a page of a list at most a few megabytes: a body past this is not one.
MOST_BODY_BYTES = 16 * 2**20
# A call's own bounds, as the bot makes its client (bot/runtime/app.py): each try's timeouts, the tries after the
# first, and the longest Retry-After waited.
TIMEOUT, RETRIES, LONGEST_WAIT = 10.0, 2, 30.0
# The longest a call may take, every try and wait included: 3 × 40 s + 2 × 30 s.
LONGEST_CALL = (RETRIES + 1) * one_try_seconds(httpx.Timeout(TIMEOUT)) + RETRIES * LONGEST_WAIT


class SlackHttp:
    """One pool of kept-alive connections for every call to Slack, shared by all threads.

    A call is retried `retries` times when it surely was not sent whole (NOT_SENT), on 429 (after Retry-After; one
    longer than `longest_wait` seconds is answered at once, not tried early) and on 5xx (but MADE_EACH_TIME's). A
    connection idle for `idle_seconds` is closed, not reused."""

    def __init__(self, timeout: float = TIMEOUT, retries: int = RETRIES, longest_wait: float = LONGEST_WAIT,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None,
                 idle_seconds: float = IDLE_SECONDS, tls: ssl.SSLContext | None = None):
        self.timeout, self.retries, self.longest_wait, self.sleep = timeout, retries, longest_wait, sleep
        # The system's certificate authorities (and SSL_CERT_FILE), as urllib trusts them for slack_sdk; `tls`:
        # such a context loaded already.
        self.client = httpx.Client(timeout=timeout, transport=transport, verify=tls or ssl.create_default_context(),
                                   limits=httpx.Limits(max_keepalive_connections=32,
                                                       keepalive_expiry=idle_seconds))
        # Each answer, head and body, within the client's timeouts summed: httpx bounds each read, not the whole.
        self.within = Within(self.client, "slack")

    def post(self, url: str, *, headers: dict[str, str], content: bytes) -> httpx.Response:
        """Slack's answer; a failure to reach Slack is raised as urllib raises it for slack_sdk (an OSError:
        TimeoutError, or URLError naming the reason), so callers meet the same errors as with slack_sdk."""
        try:
            return self._post(url, headers=headers, content=content)
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"Slack did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise URLError(f"{type(exc).__name__}: {exc}") from exc

    def _post(self, url: str, *, headers: dict[str, str], content: bytes) -> httpx.Response:
        started, waited = time.monotonic(), 0.0
        # A form's trigger_id lives TRIGGER_SECONDS: a try after that can only be refused, so none is waited for.
        method = url.rsplit("/", 1)[-1]
        triggered = method in TRIGGERED
        retried = RETRIED_STATUSES - ({500, 502, 503, 504} if method in MADE_EACH_TIME else set())
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._exchange(url, headers=headers, content=content)
            except NOT_SENT:
                wait = 0.1 * 2.0 ** attempt
                if last or (triggered and max(time.monotonic() - started, waited) + wait >= TRIGGER_SECONDS):
                    raise
                self._pause(wait)
                waited += wait
                continue
            if response.status_code not in retried or last:
                return response
            asked = self._wait(response, attempt)
            if asked is None or (triggered and max(time.monotonic() - started, waited) + asked >= TRIGGER_SECONDS):
                return response
            self._pause(asked)
            waited += asked
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _pause(self, seconds: float) -> None:
        """A wait before another try, told to the change path as the PlanetScale client's are: a look-up made
        under a policy's lease (its user groups, a role) that waits makes the policy's read before it stale."""
        note_wait(seconds)
        self.sleep(seconds)

    def _exchange(self, url: str, *, headers: dict[str, str], content: bytes) -> httpx.Response:
        request = self.client.build_request("POST", url, headers=headers, content=content)
        deadline = time.monotonic() + one_try_seconds(self.client.timeout)
        response = self.within.send(request, deadline)
        try:
            body = read_within(response, deadline, MOST_BODY_BYTES)
        finally:
            response.close()
        if body is None:
            raise httpx.RemoteProtocolError(f"an answer over {MOST_BODY_BYTES // 2**20} MB", request=request)
        # Read whole, its Content-Encoding undone: the answer as httpx would have given it.
        # As bytes: a header holding a byte past ASCII (a proxy's, a Retry-After of `²`) is copied, not encoded.
        kept = [(k, v) for k, v in response.headers.raw if k.lower() not in (b"content-encoding", b"content-length")]
        return httpx.Response(response.status_code, headers=kept, content=body, request=request)

    def _wait(self, response: httpx.Response, attempt: int) -> float | None:
        """The wait before the next try; None when Slack asks for longer than `longest_wait`: a try before then is
        refused for sure, so the 429 is the answer now, and the caller keeps what it carried for a later try."""
        # Read as RFC 9110 writes it (seconds or an HTTP date); anything else is the usual backoff.
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if response.status_code == 429 and retry_after is not None:
            if retry_after > self.longest_wait:
                log.warning("Slack rate limits %s for %s: not tried again before then",
                            response.request.url.path.rsplit("/", 1)[-1], describe_wait(retry_after))
                return None
            return retry_after
        return 0.5 * 2.0 ** attempt

    def close(self) -> None:
        self.within.close()
        self.client.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> SlackHttp:
        # Bolt deep-copies a request's context for each lazy listener, the client with it: the pool is shared
        # by every thread on purpose.
        return self


class SlackClient(WebClient):
    """slack_sdk's WebClient whose calls go over SlackHttp's kept-alive connections.

    File uploads and OAuth's basic auth, which this bot does not use, keep slack_sdk's own way."""

    def __init__(self, http: SlackHttp, token: str | None, base_url: str = WebClient.BASE_URL,
                 on_error: Callable[[str, str], None] | None = None):
        super().__init__(token=token, base_url=base_url, timeout=int(http.timeout))
        self.http = http
        # Told (method, Slack's error code or `connection`) of each call that fails, for the metrics.
        self.on_error = on_error

    def api_call(self, api_method: str, *, http_verb: str = "POST", files: dict[str, Any] | None = None,
                 data: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                 json: dict[str, Any] | None = None, headers: dict[str, Any] | None = None,
                 auth: dict[str, Any] | None = None) -> SlackResponse:
        if files or auth:
            return super().api_call(api_method, http_verb=http_verb, files=files, data=data, params=params,
                                    json=json, headers=headers, auth=auth)
        form = {k: v for k, v in {**(params or {}), **(data or {})}.items() if v is not None}
        token = form.pop("token", None) or self.token  # apps.connections.open passes the app-level token
        request_headers = {**self.headers, **(headers or {})}
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        url = self.base_url + api_method
        if json is not None:
            request_headers["Content-Type"] = "application/json;charset=utf-8"
            content = _json_bytes(json)
            if form:
                url += "?" + str(httpx.QueryParams(_form_values(form)))
        else:
            request_headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = str(httpx.QueryParams(_form_values(form))).encode()
        log.debug("Slack %s", api_method)
        try:
            response = self.http.post(url, headers=request_headers, content=content)
        except httpx.DecodingError:
            # An answer whose Content-Encoding is not its body's: a failed call, raised as Slack's own failures are;
            # for a method that acts, as a lost answer (Slack answered, so it may have acted).
            if api_method in ACTS or api_method in ACTS_UNREAD:
                self._failed(api_method, UNREADABLE)
                raise UnreadableAnswer(f"Slack answered {api_method} with an answer the bot cannot decode") from None
            self._failed(api_method, "undecodable_answer")
            SlackResponse(client=self, http_verb="POST", api_url=url, req_args={"params": form},
                          data={"ok": False, "error": "undecodable_answer"},
                          headers={}, status_code=200).validate()  # type: ignore[no-untyped-call]
            raise
        except (httpx.HTTPError, OSError):  # SlackHttp raises a timeout or a lost connection as an OSError
            self._failed(api_method, "connection")
            raise
        if response.status_code >= 500 and api_method in MADE_EACH_TIME:
            # A server error may come after the post was made (a proxy's page): failed as a lost answer, so that
            # the callers look before posting again.
            log.warning("Slack answered %s with HTTP %d", api_method, response.status_code)
            self._failed(api_method, UNREADABLE)
            raise UnreadableAnswer(f"Slack answered {api_method} with HTTP {response.status_code}; it may have "
                                   "posted all the same")
        try:
            body: Any = response.json()
        except ValueError:
            if response.status_code == 200 and (api_method in ACTS or api_method in ACTS_UNREAD):
                # Answered 200, so Slack may have acted (a post made) although its answer is cut short or replaced
                # on its way: failed as a lost answer, so that the callers look before acting again.
                log.warning("Slack answered %s with a body that is not JSON", api_method)
                self._failed(api_method, UNREADABLE)
                raise UnreadableAnswer(f"Slack answered {api_method} with an answer the bot cannot read") from None
            body = {"ok": False, "error": f"http_{response.status_code}"}
        if not readable(api_method, body):
            body = self._unreadable(api_method, body if response.status_code == 200 else None,
                                    f"http_{response.status_code}")
        if response.status_code != 200 or body.get("ok") is False:
            self._failed(api_method, str(body.get("error") or f"http_{response.status_code}"))
        answer = SlackResponse(client=self, http_verb="POST", api_url=url,
                               req_args={"headers": request_headers, "params": form, "json": json},
                               data=body, headers=dict(response.headers), status_code=response.status_code)
        answer.validate()  # type: ignore[no-untyped-call]  # raises SlackApiError as WebClient's own calls do
        return answer

    def _unreadable(self, method: str, body: Any, error: str) -> dict[str, Any]:
        """A failed answer in place of one whose shape is not its method's (`body`: a 200's, else None)."""
        if body is None:
            return {"ok": False, "error": error}
        log.warning("Slack answered %s with fields of unexpected shapes (%s)", method, described(body))
        if method in ACTS:
            self._failed(method, UNREADABLE)
            raise UnreadableAnswer(f"Slack answered {method} with an answer the bot cannot read")
        return {"ok": False, "error": UNREADABLE, "answer": described(body)}

    def _failed(self, method: str, error: str) -> None:
        if self.on_error is not None:
            self.on_error(method, error)

    def __deepcopy__(self, memo: dict[int, Any]) -> SlackClient:
        return self  # shared by every thread, as its pool is


def _form_values(form: dict[str, Any]) -> dict[str, str]:
    """As slack_sdk sends a form: booleans as 1 and 0."""
    return {k: ("1" if v else "0") if isinstance(v, bool) else str(v) for k, v in form.items()}


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, default=_as_dict).encode()


def _as_dict(value: Any) -> Any:
    if isinstance(value, (Block, Attachment)):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} cannot be sent to Slack")


def response_message(text: str = "", blocks: Sequence[dict[str, Any] | Block] | None = None,
                     attachments: Sequence[dict[str, Any] | Attachment] | None = None,
                     **fields: Any) -> dict[str, Any]:
    """The body a response URL takes: the text, the blocks and attachments as dicts, the other fields given."""
    message: dict[str, Any] = {"text": text}
    if blocks is not None:
        message["blocks"] = [b.to_dict() if isinstance(b, Block) else b for b in blocks]
    if attachments is not None:
        message["attachments"] = [a.to_dict() if isinstance(a, Attachment) else a for a in attachments]
    message.update({k: v for k, v in fields.items() if v is not None})
    return message


class KeptAliveRespond(Respond):
    """Bolt's `respond` for one request, posting to its response URL through the shared pool. `otherwise` says a
    private answer another way (an ephemeral message) when the URL no longer takes it (404: `expired_url` past
    its 30 minutes, `used_url` past its five uses; or a 5xx at every try), so the person is answered all the
    same; True once said."""

    def __init__(self, response_url: str, http: SlackHttp,
                 otherwise: Callable[[dict[str, Any]], bool] | None = None):
        super().__init__(response_url=response_url)
        self.http = http
        self.otherwise = otherwise

    def __call__(
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[dict[str, Any] | Block] | None = None,
        attachments: Sequence[dict[str, Any] | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        message = response_message(**text) if isinstance(text, dict) else response_message(
            text=text, blocks=blocks, attachments=attachments, response_type=response_type,
            replace_original=replace_original, delete_original=delete_original, unfurl_links=unfurl_links,
            unfurl_media=unfurl_media, thread_ts=thread_ts, metadata=metadata)
        url = str(self.response_url)
        private = message.get("response_type") != "in_channel" and not (replace_original or delete_original)
        try:
            response = self.http.post(url, headers={"Content-Type": "application/json;charset=utf-8"},
                                      content=_json_bytes(message))
        except OSError as exc:  # not reached, or no answer: a private answer is said another way all the same
            if not (private and self.otherwise is not None):
                raise
            log.warning("the response URL could not be reached (%s): answered as an ephemeral message instead",
                        type(exc).__name__)
            if self.otherwise(message):
                return WebhookResponse(url=url, status_code=200, body="ok", headers={})
            raise
        # 404 and 410: the URL no longer takes answers; 429 and 5xx: Slack did not take it, tries included. A
        # private answer said twice (Slack showed it despite its 5xx) is better than none.
        gone = response.status_code in (404, 410, 429) or response.status_code >= 500
        if gone and private and self.otherwise is not None:
            log.warning("the response URL did not take the answer (HTTP %s %s): answered as an ephemeral message "
                        "instead", response.status_code, response.text[:40])
            if self.otherwise(message):
                return WebhookResponse(url=url, status_code=200, body="ok", headers={})
        elif response.status_code != 200 and not private:
            # The channel's answer is not shown to one person as if posted: the caller tells them it was not.
            log.warning("the response URL no longer takes answers (HTTP %s, %s): an answer for the channel was not "
                        "shown there", response.status_code, response.text[:40])
        return WebhookResponse(url=url, status_code=response.status_code, body=response.text,
                               headers=dict(response.headers))

    def __deepcopy__(self, memo: dict[int, Any]) -> KeptAliveRespond:
        return KeptAliveRespond(str(self.response_url), self.http, self.otherwise)
