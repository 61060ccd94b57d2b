"""The one place the app is assembled from explicit dependencies."""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import TYPE_CHECKING, Any

import httpx
from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.error import BoltError
from slack_bolt.middleware import Middleware
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

import handlers
from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.slack_directory import planetscale_roles, slack_groups, slack_people
from bot.adapters.slack_http import KeptAliveRespond, SlackClient, SlackHttp
from bot.adapters.slack_shapes import UNREADABLE, UnreadableAnswer, error_of, posted_parts
from bot.adapters.store import Store
from bot.adapters.store.inbox import SOCKET_MODE, Inbox
from bot.domain.access import AccessControl
from bot.domain.access_file import AccessFile, RulesSource
from bot.domain.access_rules import AccessFileError
from bot.domain.changes import ChangePath
from bot.domain.reading import PolicyService
from bot.runtime.database import open_store
from bot.runtime.executor import Beside, TrackedExecutor, delivering, redoing, redoing_now
from bot.runtime.logs import REQUEST_ID, new_request_id
from bot.runtime.metrics import MeasuredTransport, slack_api_error
from bot.runtime.server import SignedAt
from bot.runtime.settings import Settings, SettingsError
from bot.runtime.slack_shape import body_problem, form_misread, state_errors
from bot.runtime.sweeper import INBOX_GIVE_UP
from handlers import channel_history
from handlers.dependencies import Dependencies

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.runtime.watch import Watcher


def slack_client(settings: Settings, http: SlackHttp | None = None) -> SlackClient:
    return SlackClient(http or SlackHttp(tls=system_tls()), token=settings.slack_bot_token,
                       base_url=settings.slack_api_url, on_error=slack_api_error)


def planetscale_client(settings: Settings) -> PlanetScaleClient:
    if not (settings.planetscale_token_id and settings.planetscale_token):
        raise SettingsError("PLANETSCALE_SERVICE_TOKEN_ID is not set: set it and PLANETSCALE_SERVICE_TOKEN to a "
                            "service token with read_backups, write_backups and read_branch.")
    return PlanetScaleClient(settings.planetscale_token_id, settings.planetscale_token,
                             settings.planetscale_api_url, limiter=settings.planetscale_limiter(),
                             transport=MeasuredTransport(planetscale_transport()))


@cache
def system_tls() -> ssl.SSLContext:
    """The system's certificate authorities (and SSL_CERT_FILE), as urllib uses them: loaded once, for Slack and
    PlanetScale alike, as loading them is a good part of a start."""
    return ssl.create_default_context()


def planetscale_transport() -> httpx.BaseTransport:
    """httpx's own pool: connections kept alive across requests and threads, since a new one costs a TCP and a
    TLS handshake, round trips a person waits for."""
    return httpx.HTTPTransport(verify=system_tls(),
                               limits=httpx.Limits(max_keepalive_connections=32, keepalive_expiry=20))


def load_access_rules(path: str) -> AccessFile:
    """The access file, or a SettingsError naming the variable, the file, the line and the reason."""
    try:
        return AccessFile(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise SettingsError(f"BACKUP_BOT_ACCESS_FILE: {path} is a link to a file that does not exist: point it "
                                "at the rules file, or put the rules file where it points.") from None
        raise SettingsError(f"BACKUP_BOT_ACCESS_FILE: {path} does not exist: copy access.example.toml to "
                            f"{path} and name who may see, change and approve which policies.") from None
    except AccessFileError as exc:
        raise SettingsError(f"BACKUP_BOT_ACCESS_FILE: {exc}") from None
    except OSError as exc:  # a folder, no permission, a disk error
        raise SettingsError(f"BACKUP_BOT_ACCESS_FILE: {path} cannot be read ({exc.strerror or type(exc).__name__}): "
                            "point it at the rules file and let the bot's user read it.") from None


def build_dependencies(settings: Settings, planetscale: PlanetScaleClient | None = None,
                       store: Store | None = None, background: TrackedExecutor | None = None,
                       rules: RulesSource | None = None, holder: str | None = None,
                       processes: int = 1) -> Dependencies:
    """`holder`: the inbox's name for this instance (a worker's is its front's); `processes`: this instance's
    processes, which share PlanetScale's budget through the database when more than one."""
    closing: list[Callable[[], None]] = []
    store = store or open_store(settings.database_url)
    if planetscale is None:
        planetscale = planetscale_client(settings)
        closing.append(planetscale.close)
    slack = slack_client(settings)
    closing.append(slack.http.close)
    access = AccessControl(rules or load_access_rules(settings.access_file),
                           slack_groups(slack, max_age=settings.group_cache_max_age),
                           planetscale_roles(slack, planetscale), slack_people(slack))
    share_budget(planetscale, store, processes)
    policies = PolicyService(planetscale)
    background = background or TrackedExecutor()
    background.first_time = store.first_delivery
    background.inbox = Inbox(lambda: store.engine, holder or instance_name(), writer=lambda: store.writer,
                             damaged=store.damaged)
    background.budget_wait = partial(budget_wait, planetscale)
    fork = Beside()
    closing.append(fork.close)
    # The store's clock (the database's): the leases, expiries and turns it compares were set by other instances.
    changes = ChangePath(store, policies, planetscale, access, clock=store.clock, fork=fork)
    return Dependencies(policies, access, store, changes,
                        background, settings.audit_channel, settings.stale_factor, settings.watch_share,
                        slack=slack, closing=closing)


def instance_name() -> str:
    """This process among the instances: the inbox's holder."""
    import os
    import socket
    import uuid

    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def budget_wait(planetscale: PlanetScaleClient, requests: int) -> float:
    """How long `requests` more would wait for PlanetScale's budget now (in memory, never the database)."""
    limiter = planetscale.limiter
    return 0.0 if limiter is None else limiter.backlog() + max(0, requests - 1) / limiter.rate


def share_budget(planetscale: PlanetScaleClient, store: Store, processes: int = 1) -> None:
    """On PostgreSQL, where several instances may run, PlanetScale's budget per token is kept in the database and
    shared by them all; SQLite is one instance's, whose budget is its own, shared the same way by its processes
    when it has several (`serve` with workers), through a SQLite file of its own beside the database. Until the
    database first answers, this process's own processes at least are counted among those sharing it."""
    from bot.adapters.shared_budget import UNSEEN_INSTANCES, SharedRateLimiter

    limiter = planetscale.limiter
    shared = store.url.startswith("postgresql") or processes > 1
    if shared and limiter is not None and not isinstance(limiter, SharedRateLimiter):
        planetscale.limiter = SharedRateLimiter.sharing(store, planetscale.token_id, limiter,
                                                        unseen=max(UNSEEN_INSTANCES, processes))


# /healthz names what the watch skipped, a few kilobytes at most: PlanetScale's bad data (an ID of megabytes, a
# thousand broken policies) is not repeated whole to every checker, serialized on the event loop the acks share.
SKIPPED_SHOWN = 20
SKIPPED_CHARS = 500
# The /healthz key of a process PostgreSQL refuses connections (SQLSTATE 53300).
CROWDED = "database_connections"


def health_report(deps: Dependencies, watcher: Watcher | None = None,
                  others: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """For /healthz: usable when the database is; a bad access-file reload and what the watch's last pass
    skipped are reported, not fatal. `others`: what `serve`'s workers tell (`told`), where the rules are decided
    and the watch runs."""
    if not deps.store.ready.is_set():
        return {"status": "starting", "database": "checking the schema"}
    ok, detail = deps.store.healthy()
    report: dict[str, Any] = {"status": "ok" if ok else "unavailable", "database": detail}
    for part in (told(deps, watcher), *others):
        for key, value in part.items():
            report.setdefault(key, value)
    if CROWDED in report:  # a worker PostgreSQL refuses connections does the work after the acks late, or not
        report["status"] = "unavailable"
    return report


def told(deps: Dependencies, watcher: Watcher | None = None) -> dict[str, Any]:
    """What one process tells /healthz beside the database: the access file's last reload, if it failed, what
    the watch's last pass skipped, if it runs the watch, and the rows it skipped as damaged."""
    report: dict[str, Any] = {}
    crowded = deps.store.crowded_out()
    if crowded is not None:
        report[CROWDED] = crowded
    if deps.access.source.last_error:
        report["access_rules"] = deps.access.source.last_error
    if watcher is not None and watcher.skipped:
        skipped = [cut(f"{s.what}: {s.reason}", SKIPPED_CHARS) for s in watcher.skipped[:SKIPPED_SHOWN]]
        if len(watcher.skipped) > SKIPPED_SHOWN:
            skipped.append(f"and {len(watcher.skipped) - SKIPPED_SHOWN} more")
        report["watch_skipped"] = skipped
    if watcher is not None and watcher.unposted:
        report["watch_unposted"] = cut(watcher.unposted, SKIPPED_CHARS)
    if watcher is not None and watcher.unmarked:
        report["watch_unmarked"] = watcher.unmarked
    if deps.store.damaged:
        names = sorted(deps.store.damaged)
        report["damaged_rows"] = names[:SKIPPED_SHOWN]
        if len(names) > SKIPPED_SHOWN:
            report["damaged_rows"].append(f"and {len(names) - SKIPPED_SHOWN} more")
    return report


def cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def build_app(settings: Settings, deps: Dependencies, verify: bool = True) -> App:
    """`verify`: whether Bolt checks each request's signature (a worker's come from its front, which did)."""
    try:
        return _build_app(settings, deps, verify)
    except (BoltError, OSError) as exc:
        # Bolt raises its error while handling slack_sdk's, whose answer is the one Slack gave.
        answer = getattr(exc.__context__, "response", None)
        if isinstance(exc.__context__, SlackApiError) and answer is not None and answer.get("error") == UNREADABLE:
            raise SettingsError(f"Slack at {settings.slack_api_url} answered auth.test (the token's check) with an "
                                f"answer the bot cannot read ({answer.get('answer')}); check SLACK_API_URL (Slack's "
                                f"Web API, https://slack.com/api/), or run `backup-bot doctor`.") from None
        reason = str(exc.__cause__ or exc).splitlines()[0][:200]
        raise SettingsError(f"SLACK_BOT_TOKEN could not be verified with Slack at {settings.slack_api_url} "
                            f"(auth.test: {reason}); check the token, or run `backup-bot doctor`.") from None


def shared_connections(client: SlackClient, http: SlackHttp) -> Callable[..., BoltResponse]:
    """A middleware giving each request a request ID for the logs, and the shared client and a `respond` on the
    pool's connections in place of the ones Bolt makes for each request (which open a connection per call).
    Sharing the client is safe because nothing sets a token on it: the app has one workspace and one token."""

    def middleware(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        new_request_id(context.get(REQUEST_ID))
        context["client"] = client
        if context.response_url:
            otherwise = partial(ephemeral, client, context.channel_id, context.user_id) \
                if context.channel_id and context.user_id else None
            context["respond"] = KeptAliveRespond(context.response_url, http, otherwise)
        return next()

    return middleware


def ephemeral(client: SlackClient, channel: str, user: str, message: dict[str, Any]) -> bool:
    """A private answer as an ephemeral message where the person asked, for a response URL that no longer takes
    it, else in the bot's direct message with them (a channel the bot is not in takes no ephemeral message
    either); True once Slack took it."""
    text, parts = message.get("text") or "", posted_parts(message.get("blocks"))
    said = 0  # a long answer in several messages: those said one way are not said again the other
    try:
        for part in parts:
            try:
                client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=part)
            except UnreadableAnswer:  # answered 200: taken, as far as anyone can tell; not said twice
                log.warning("Slack answered chat.postEphemeral to %s with an answer the bot cannot read; taken as "
                            "said", user)
            said += 1
        return True
    except (SlackApiError, OSError) as exc:
        log.warning("could not answer %s as an ephemeral message (%s): answered in a direct message instead", user,
                    error_of(exc))
    try:
        for part in parts[said:]:
            channel_history.post_directly(client, user, text, blocks=part, what="a private answer")
    except (SlackApiError, OSError) as exc:
        log.error("could not answer %s in a direct message either: %s", user, error_of(exc))
        return False
    return True


def acted_on_once(request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse:
    """A middleware keying the work a request hands over on its body: a replay or a retry of it, here or on
    another instance, does nothing again (TrackedExecutor.first_time, after the ack)."""
    body = request.raw_body or (json.dumps(request.body, sort_keys=True, separators=(",", ":"))
                                if request.body else "")
    delivering(body, inbox_payload(request, body))
    return next()


def slack_shaped(request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse:
    """A middleware passing on only bodies of a shape Slack sends: over Socket Mode nothing checked them before,
    and a payload with text where Slack sends an object raised in the listeners. It is acked, so not redelivered."""
    if not request.body and (form := form_misread(request.raw_body, request.content_type)) is not None:
        # Read as the form it is; its context (user, channel, response URL) as Bolt reads it of such a body.
        request.body = form
        request.context.update(BoltRequest(body=form, mode="socket_mode").context)
    if problem := body_problem(request.body):
        log.warning("a request not of a shape Slack sends is ignored: %s", problem)
        return BoltResponse(status=200, body="")
    if errors := state_errors(request.body):
        log.warning("a form submitted with values of a kind Slack does not send is answered beside its fields: %s",
                    ", ".join(sorted(errors)))
        return BoltResponse(status=200, body={"response_action": "errors", "errors": errors})
    return next()


# What Slack delivers from a person it has active, and from nobody it deactivated: a click, a form submitted (and
# a slash command, whose body has no type).
FROM_A_MEMBER = frozenset({"block_actions", "view_submission"})


def vouched(request: BoltRequest, delivered: Callable[[str], None]) -> None:
    """A command, click or form Slack delivered now counts as its sender's look-up (AccessControl.delivered): an
    update applied at once asks no users.info about its requester. Not one redone from the inbox: it was delivered
    earlier, or to another instance."""
    body = request.body if isinstance(request.body, dict) else {}
    user = request.context.user_id
    if user and not redoing_now() and ("command" in body or body.get("type") in FROM_A_MEMBER):
        delivered(user)


class FirstSteps(Middleware):
    """The bot's middlewares in order (`slack_shaped`, `connections`, `vouched`, `acted_on_once`), as one of Bolt's
    `Middleware`: Bolt works out every argument a function middleware may take, for every request, before it
    runs, and that raised on a body Slack never sends (a click with no action: a 500 and a traceback) before
    `slack_shaped` could ignore it."""

    def __init__(self, connections: Callable[[BoltContext, Callable[[], BoltResponse]], BoltResponse],
                 delivered: Callable[[str], None] = lambda _: None) -> None:
        self.connections = connections
        self.delivered = delivered

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse | None:
        def vouched_then_keyed() -> BoltResponse:
            vouched(req, self.delivered)
            return acted_on_once(req, next)

        return slack_shaped(req, lambda: self.connections(req.context, vouched_then_keyed))


# The headers a request is verified and read by, kept with its body to redo it (Bolt checks the signature again).
REDO_HEADERS = ("content-type", "x-slack-request-timestamp", "x-slack-signature")




def inbox_payload(request: BoltRequest, body: str) -> str:
    if not request.raw_body:
        if request.mode == SOCKET_MODE and isinstance(request.body, dict) and request.body:
            return json.dumps({SOCKET_MODE: request.body}, separators=(",", ":"))
        return ""
    headers = {name: list(request.headers.get(name) or []) for name in REDO_HEADERS}
    return json.dumps({"body": body, "headers": headers}, separators=(",", ":"))


def redo(app: App, payload: str, keys: frozenset[str], verifier: SignatureVerifier | None = None,
         request_id: str | None = None, done: Callable[[str], None] | None = None, again: bool = False,
         socket_mode: bool = False) -> int:
    """Dispatches a stored request again, doing only its work `keys`; the status Bolt answers. With `verifier`,
    401 unless Slack signed it (`signed_again`), and then signed again now for Bolt's own check;
    `request_id`: the one its logs go under (the front's, for a worker's work); `done`: marks a key's work done in
    the inbox, for work the listener no longer reaches; `again`: work taken over from an instance that stopped;
    `socket_mode`: an instance that takes envelopes over Socket Mode, which redoes their payloads (unsigned)
    whatever `verifier`."""
    request = json.loads(payload)
    context = {REQUEST_ID: request_id} if request_id else None
    if SOCKET_MODE in request:  # unsigned: redone by Socket Mode's instances, or where no signature is checked
        if verifier is not None and not socket_mode:
            return 401
        return _dispatched_again(app, BoltRequest(body=request[SOCKET_MODE], mode=SOCKET_MODE, context=context),
                                 keys, done, again)
    headers = request["headers"]
    if verifier is not None:
        headers = signed_again(verifier, request["body"], headers)
        if headers is None:
            return 401
    return _dispatched_again(app, BoltRequest(body=request["body"], headers=headers, context=context), keys, done,
                             again)


def _dispatched_again(app: App, bolt_request: BoltRequest, keys: frozenset[str],
                      done: Callable[[str], None] | None, again: bool) -> int:
    with redoing(keys, again) as redone:
        response = app.dispatch(bolt_request)
    if missed := keys - redone.reached:
        answer_missed(app, bolt_request, response, missed, done)
    return response.status


def signed_again(verifier: SignatureVerifier, body: str, headers: dict[str, list[str]]) -> dict[str, list[str]] | None:
    """A stored request's headers signed again now, if Slack signed its body no longer ago than the inbox keeps
    work (INBOX_GIVE_UP); None if it did not. Bolt refuses a signature older than five minutes, and work is taken
    over whenever its instance stopped: the instance that acked it checked it within Bolt's five minutes, and the
    inbox's key (the body's digest) refuses it a second time, so its age alone refuses nothing here."""
    first = {name: (values or [""])[0] for name, values in headers.items()}
    stamp = first.get("x-slack-request-timestamp", "")
    try:
        signed_at = int(stamp)
    except ValueError:
        return None
    now = int(time.time())
    at_signing = SignatureVerifier(verifier.signing_secret, clock=SignedAt(signed_at))
    if abs(now - signed_at) > INBOX_GIVE_UP or \
            not at_signing.is_valid(body, stamp, first.get("x-slack-signature", "")):
        return None
    signature = verifier.generate_signature(timestamp=str(now), body=body) or ""
    return {**headers, "x-slack-request-timestamp": [str(now)], "x-slack-signature": [signature]}


def answer_missed(app: App, request: BoltRequest, response: BoltResponse, missed: frozenset[str],
                  done: Callable[[str], None] | None) -> None:
    """A redone request whose listener went another way than the first instance's (a branch that depends on what
    a process knows): its ack reaches nobody, so what it answered goes to the response URL (else, as any private
    answer, an ephemeral message where they asked, else a direct message), and the work it no longer reaches is
    closed in the inbox rather than redone for ever."""
    log.error("a redone request did not reach %d piece(s) of the work its first instance handed over; a listener "
              "answers differently here", len(missed))
    answer = acked_message(response)
    client, context = app.client, request.context
    if answer is not None and context.response_url and isinstance(client, SlackClient):
        otherwise = partial(ephemeral, client, context.channel_id, context.user_id) \
            if context.channel_id and context.user_id else None
        try:
            KeptAliveRespond(context.response_url, client.http, otherwise)(answer)
        except Exception:
            log.exception("and its answer could not be sent to its response URL, nor to the person another way")
    if done is None:
        return
    for key in missed:
        try:
            done(key)
        except Exception:
            log.exception("could not mark work the redone request no longer reaches done in the inbox")


def acked_message(response: BoltResponse) -> dict[str, Any] | None:
    """What an ack said, as a message: Bolt sends an ack of text alone as text/plain, one with blocks as JSON."""
    if not response.body:
        return None
    kind = (response.headers.get("content-type") or [""])[0]
    if not kind.startswith("application/json"):
        return {"text": response.body}
    try:
        answer = json.loads(response.body)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) and (answer.get("text") or answer.get("blocks")) else None


class TokenUnused(logging.Filter):
    """Drops Bolt's warning that its `token` goes unused beside `client`: Bolt reads SLACK_BOT_TOKEN from the
    environment as its `token` whatever the app gives, and the client the app gives holds that same token."""

    message = "As you gave `client` as well, `token` will be unused."

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.message


def quiet_token_unused() -> None:
    bolt = logging.getLogger(f"slack_bolt.{App.__name__}")  # Bolt's logger for its App (slack_bolt.logger)
    if not any(isinstance(f, TokenUnused) for f in bolt.filters):
        bolt.addFilter(TokenUnused())


def _build_app(settings: Settings, deps: Dependencies, verify: bool) -> App:
    client = deps.slack or slack_client(settings)
    quiet_token_unused()
    app = App(
        # Named, Bolt does not look its caller's file up on the stack (inspect.stack reads every frame's source).
        name="backup-policy-bot",
        client=client,
        signing_secret=settings.slack_signing_secret,
        request_verification_enabled=verify,
        # The answer goes back as soon as the listener returns; listeners ack and hand slow work to
        # deps.background, so no request waits on the database, Slack or PlanetScale before its ack.
        process_before_response=True,
        # auth.test once at start: a wrong token stops the start, and no ack ever waits on Slack for it
        # (with verification off, Bolt makes that call during the first request instead).
        token_verification_enabled=True,
        # It would set a workflow function's token on the shared client; the app has no workflow functions.
        attaching_function_token_enabled=False,
    )
    app.use(FirstSteps(shared_connections(client, client.http), lambda user: deps.access.delivered(user)))
    handlers.register(app, deps)
    return app
