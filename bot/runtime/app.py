"""The one place the app is assembled from explicit dependencies."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.error import BoltError
from slack_bolt.listener.custom_listener import CustomListener
from slack_bolt.listener_matcher.builtins import BuiltinListenerMatcher
from slack_bolt.logger import get_bolt_app_logger
from slack_bolt.request.payload_utils import to_action, to_command, to_event, to_view
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

import handlers
from bot.adapters.keepalive import KeepAliveTransport
from bot.adapters.planetscale import PlanetScaleClient
from bot.adapters.slack_directory import planetscale_roles, slack_groups
from bot.adapters.slack_http import PooledRespond, PooledWebClient, SlackConnections
from bot.adapters.store import Store
from bot.domain.access import AccessControl, AccessFile, AccessFileError, RulesSource
from bot.domain.changes import ChangePath
from bot.domain.reading import PolicyService
from bot.runtime.executor import TrackedExecutor
from bot.runtime.logs import new_request_id
from bot.runtime.settings import Settings, SettingsError
from handlers.dependencies import Dependencies

if TYPE_CHECKING:
    from bot.runtime.watch import Watcher


def slack_client(settings: Settings, connections: SlackConnections | None = None) -> PooledWebClient:
    return PooledWebClient(
        connections=connections or SlackConnections(timeout=10),
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                        RateLimitErrorRetryHandler(max_retry_count=2),
                        ServerErrorRetryHandler(max_retry_count=2)],
    )


def planetscale_client(settings: Settings) -> PlanetScaleClient:
    if not (settings.planetscale_token_id and settings.planetscale_token):
        raise SettingsError("PLANETSCALE_SERVICE_TOKEN_ID is not set: set it and PLANETSCALE_SERVICE_TOKEN to a "
                            "service token with read_backups and write_backups.")
    return PlanetScaleClient(settings.planetscale_token_id, settings.planetscale_token,
                             settings.planetscale_api_url, limiter=settings.planetscale_limiter(),
                             transport=KeepAliveTransport())


def load_access_rules(path: str) -> AccessFile:
    """The access file, or a SettingsError naming the variable, the file, the line and the reason."""
    try:
        return AccessFile(path)
    except FileNotFoundError:
        raise SettingsError(f"BACKUP_BOT_ACCESS_FILE: {path} does not exist: copy access.example.toml to "
                            f"{path} and name who may see, change and approve which policies.") from None
    except AccessFileError as exc:
        raise SettingsError(f"BACKUP_BOT_ACCESS_FILE: {exc}") from None
    except OSError as exc:  # a folder, no permission, a disk error
        raise SettingsError(f"BACKUP_BOT_ACCESS_FILE: {path} cannot be read ({exc.strerror or type(exc).__name__}): "
                            "point it at the rules file and let the bot's user read it.") from None


def open_store(url: str) -> Store:
    """The database, migrated; a SettingsError naming BACKUP_BOT_DATABASE_URL when it cannot be used."""
    store = Store(url)
    migrate(store)
    return store


def migrate(store: Store) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        store.migrate()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        raise SettingsError(f"BACKUP_BOT_DATABASE_URL cannot be used ({reason}): check that the database "
                            "exists and is reachable.") from None


def build_dependencies(settings: Settings, planetscale: PlanetScaleClient | None = None,
                       store: Store | None = None, background: TrackedExecutor | None = None,
                       rules: RulesSource | None = None) -> Dependencies:
    store = store or open_store(settings.database_url)
    planetscale = planetscale or planetscale_client(settings)
    slack = slack_client(settings)
    access = AccessControl(rules or load_access_rules(settings.access_file),
                           slack_groups(slack, max_age=settings.group_cache_max_age),
                           planetscale_roles(slack, planetscale))
    policies = PolicyService(planetscale)
    return Dependencies(policies, access, store, ChangePath(store, policies, planetscale, access),
                        background or TrackedExecutor(), settings.audit_channel, settings.stale_factor,
                        slack=slack)


def health_report(deps: Dependencies, watcher: Watcher | None = None) -> dict[str, Any]:
    """For /healthz: usable when the database is; a bad access-file reload and what the watch's last pass
    skipped are reported, not fatal."""
    if not deps.store.ready.is_set():
        return {"status": "starting", "database": "checking the schema"}
    ok, detail = deps.store.healthy()
    report: dict[str, Any] = {"status": "ok" if ok else "unavailable", "database": detail}
    if deps.access.source.last_error:
        report["access_rules"] = deps.access.source.last_error
    if watcher is not None and watcher.skipped:
        report["watch_skipped"] = [f"{s.what}: {s.reason}" for s in watcher.skipped]
    return report


def build_app(settings: Settings, deps: Dependencies) -> App:
    try:
        return _build_app(settings, deps)
    except (BoltError, OSError) as exc:
        reason = str(exc.__cause__ or exc).splitlines()[0][:200]
        raise SettingsError(f"SLACK_BOT_TOKEN could not be verified with Slack at {settings.slack_api_url} "
                            f"(auth.test: {reason}); check the token, or run `backup-bot doctor`.") from None


class _SameTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns it is unused beside our client, which carries that token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


BOLT_LOGGER = logging.getLogger("slack_bolt")
BOLT_LOGGER.addFilter(_SameTokenWarning())


# The arguments a listener of this app may name, each made as Bolt's build_required_kwargs makes it.
LISTENER_ARGUMENTS: dict[str, Callable[[BoltRequest], Any]] = {
    "ack": lambda req: req.context.ack,
    "body": lambda req: req.body,
    "command": lambda req: to_command(req.body),
    "action": lambda req: to_action(req.body),
    "view": lambda req: to_view(req.body),
    "event": lambda req: to_event(req.body),
    "respond": lambda req: req.context.respond,
    "client": lambda req: req.context.client,
    "context": lambda req: req.context,
}


class _NamedArgumentsListener(CustomListener):
    """Bolt's listener, handed only the arguments it names.

    Bolt's build_required_kwargs makes every argument any listener could name (thirty, eight of them helper
    objects such as `say` and `set_status`) to hand over the four or five a listener names, once for each
    listener a request is matched against and once more to run the one that matches: 40 µs of a command's
    ack, more than a click's whole work before its ack. A listener naming anything outside LISTENER_ARGUMENTS
    gets Bolt's way."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        known = all(name in LISTENER_ARGUMENTS for name in self.arg_names)
        self._arguments = [(name, LISTENER_ARGUMENTS[name]) for name in self.arg_names] if known else None

    def run_ack_function(self, *, request: BoltRequest, response: BoltResponse) -> BoltResponse | None:
        if self._arguments is None:
            return super().run_ack_function(request=request, response=response)
        return self.ack_function(**{name: make(request) for name, make in self._arguments})


class _BodyMatcher(BuiltinListenerMatcher):
    """Bolt's own matchers (`app.command`, `app.action`, …) look at the body alone: given it directly."""

    def matches(self, req: BoltRequest, resp: BoltResponse) -> bool:
        return bool(self.func(body=req.body))


class BotApp(App):
    """Bolt's App, with each request's context started on the shared client, and each listener handed only the
    arguments it names (_NamedArgumentsListener).

    Bolt's `_init_context` builds a new WebClient per request (its own connections, and a look for proxy
    variables in the environment each time), so that a middleware setting a token on `context.client` cannot
    reach other requests. Replacing that client afterwards in a middleware of ours cost each ack a client and a
    middleware for nothing. Here the shared pooled client, a request ID for the logs and a `respond` on the
    pool's connections are put in at once. Sharing is safe because no middleware sets a token on the client:
    Bolt's single-workspace authorization only reads it (the bot's token, as on the shared client), and its
    function-token middleware, which sets a Slack workflow function's token, is off (`_build_app`).
    """

    def __init__(self, *, client: PooledWebClient, **kwargs: Any):
        super().__init__(client=client, **kwargs)
        self.shared_client = client

    def _register_listener(self, functions: Any, primary_matcher: Any, *args: Any, **kwargs: Any) -> Any:
        if type(primary_matcher) is BuiltinListenerMatcher and list(primary_matcher.arg_names) == ["body"]:
            primary_matcher = _BodyMatcher(func=primary_matcher.func, base_logger=self._base_logger)
        registered = super()._register_listener(functions, primary_matcher, *args, **kwargs)
        built = self._listeners[-1]
        if type(built) is CustomListener:
            self._listeners[-1] = _NamedArgumentsListener(
                app_name=built.app_name, ack_function=built.ack_function, lazy_functions=built.lazy_functions,
                matchers=built.matchers, middleware=built.middleware,
                auto_acknowledgement=built.auto_acknowledgement, ack_timeout=built.ack_timeout,
                base_logger=self._base_logger)
        return registered

    def _init_context(self, req: BoltRequest) -> None:
        new_request_id()
        context = req.context
        # As Bolt's own, but for the client and `respond`.
        context["logger"] = get_bolt_app_logger(app_name=self.name, base_logger=self._base_logger)
        context["token"] = self._token
        context["client"] = self.shared_client
        context["listener_runner"] = self.listener_runner
        if context.response_url:
            context["respond"] = PooledRespond(context.response_url, self.shared_client.connections)


def _build_app(settings: Settings, deps: Dependencies) -> App:
    client = deps.slack or slack_client(settings)
    app = BotApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # The answer goes back as soon as the listener returns (no 10 ms ack polling); listeners ack and
        # hand slow work to deps.background. Bolt's lazy listeners would do the same, but deep-copy the
        # whole request context for each one, which doubled the time to ack.
        process_before_response=True,
        # auth.test once at start: a wrong token stops the start, and no ack ever waits on Slack for it
        # (with verification off, Bolt makes that call during the first request instead).
        token_verification_enabled=True,
        # It would set a workflow function's token on the shared client. The app has no workflow functions,
        # and its listeners always got the bot's token (the client was replaced after this middleware ran).
        attaching_function_token_enabled=False,
        logger=BOLT_LOGGER,
    )
    handlers.register(app, deps)
    return app
