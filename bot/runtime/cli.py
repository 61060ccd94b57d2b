"""The `backup-bot` command (also `python -m bot`)."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

from bot.runtime.cli_args import Parser, joined, port_number, tell_misplaced
from bot.runtime.files import current_folder_gone
from bot.runtime.output import OutputLost, standard_output
from bot.runtime.running import configure_logging as _logging
from bot.runtime.running import exit_now, start_sweeper, start_watcher, tell_unknown_names
from bot.runtime.settings import Settings, SettingsError

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from bot.adapters.store import Store
    from bot.runtime.executor import TrackedExecutor
    from bot.runtime.sweeper import InboxKeeper

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="backup-bot", description="Change PlanetScale backup policies from Slack.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=port_number, default=None, help="default: $PORT, then 3000")
    socket = commands.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    socket.add_argument("--health-host", default="0.0.0.0")
    socket.add_argument("--health-port", type=port_number, default=None,
                        help="answer GET /healthz on this port (default: none)")
    commands.add_parser("watch", help="only the watch: changes made outside the bot, failing backups")
    commands.add_parser("migrate", help="bring the database's schema up to date")
    commands.add_parser("doctor", help="check the configuration end to end; non-zero exit on any problem")
    init = commands.add_parser("init", help="write a starting access.toml, .env and manifest.yml (never overwriting)")
    init.add_argument("directory", nargs="?", default=".", metavar="DIR", help="default: here")
    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")
    export = audit_commands.add_parser("export", help="the audit entries, oldest first, streamed")
    export.add_argument("--since", help="from this time on: 2026-01-31, 2026-01-31T12:00:00Z, or an age (30d)")
    export.add_argument("--until", help="before this time (same forms)")
    export.add_argument("--db", help="only this database: ORG/DB")
    export.add_argument("--actor", help="only this Slack user ID (or backup-bot, for the watch)")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", "-o", default="-", help="a file, or - for standard output (default)")
    prune = audit_commands.add_parser("prune", help="delete audit entries older than an age, never those of an "
                                      "open request")
    prune.add_argument("--before", required=True, metavar="AGE", help="e.g. 400d, 56w, 1y")
    prune.add_argument("--yes", action="store_true", help="delete entries of the last year too (asked otherwise)")
    audit_commands.add_parser("scrub", help="hide the PlanetScale service token in entries written before its "
                              "error text was scrubbed")
    console = commands.add_parser("console", help="a local Slack stand-in: type slash commands as a user")
    console.add_argument("--demo", action="store_true",
                         help="the bundled PlanetScale emulator whatever the environment or .env says (make demo)")
    emulator = commands.add_parser("emulator", help="the bundled PlanetScale API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=port_number, default=8900)
    emulator.add_argument("--slack-port", type=port_number, default=None,
                          help="also the Slack Web API emulator with the demo workspace, on this port")
    argv = joined(sys.argv[1:] if argv is None else argv)
    tell_misplaced(argv)
    args = parser.parse_args(argv)
    if sys.stdout is None and args.command not in ("serve", "socket", "watch") and vars(args).get("output", "-") == "-":
        # Started with it closed (`>&-`): what the command says could never be read, so it does nothing.
        named = " ".join(filter(None, (args.command, getattr(args, "audit_command", None))))
        print(f"backup-bot: standard output is closed, so what `{named}` says would be lost: it did nothing; run it "
              "with its output open (a file, a pipe, or >/dev/null to discard it).", file=sys.stderr)
        return 2
    out = standard_output()
    if current_folder_gone():  # .env, access.toml and the default database are found from it
        print("backup-bot: the current folder no longer exists (deleted or moved since it was entered): cd to the "
              "bot's folder and run it again.", file=sys.stderr)
        return 2

    try:
        if args.command == "serve":
            return run_serve(args.host, args.port)
        if args.command == "socket":
            return run_socket(args.health_host, args.health_port)
        if args.command == "console":
            return run_console(args.demo, out)
        if args.command == "migrate":
            return run_migrate(out)
        if args.command == "watch":
            return run_watch()
        if args.command == "doctor":
            from bot.runtime.doctor import check

            return 1 if check(Settings.load, out) else 0
        if args.command == "init":
            from bot.runtime.starter import write_starters

            return write_starters(args.directory, out)
        if args.command == "audit":
            from bot.runtime.audit_commands import main as audit_main

            return audit_main(args.audit_command, vars(args), out=out)
        from bot.runtime.emulator_command import run_emulator

        return run_emulator(args.host, args.port, args.slack_port, out)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"backup-bot: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OutputLost as exc:  # what the command did stays done; only what it says is lost
        named = " ".join(filter(None, (args.command, getattr(args, "audit_command", None))))
        print(f"backup-bot: standard output could not be written ({exc.reason}), so what `{named}` says is "
              f"lost{DONE_ANYWAY.get(named, '')}; send its output where it can be written (a file with "
              "room, a pipe read to its end).", file=sys.stderr)
        return 2


# What a command has done by the time it reports, which its report lost does not undo.
DONE_ANYWAY = {"audit prune": " (the prune was done: run `audit export` to see what is left)",
               "audit scrub": " (the scrub was done)",
               "init": " (the files it wrote stay: run init again to see which, it overwrites none)",
               "migrate": " (the migration was done)"}


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("backup-policy-bot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def run_serve(host: str, port: int | None) -> int:
    import asyncio
    import gc
    import shutil
    import threading

    import uvicorn

    from bot.adapters.store import Store
    from bot.domain.access_file import AccessFile
    from bot.runtime.app import build_app, build_dependencies, health_report, instance_name
    from bot.runtime.database import migrate
    from bot.runtime.executor import TrackedExecutor
    from bot.runtime.front import HEAD_BYTES, Front, socket_folder
    from bot.runtime.lifecycle import drain
    from bot.runtime.repeating import Repeating
    from bot.runtime.server import create_asgi_app
    from bot.runtime.workers import STUCK_SECONDS, Workers

    settings = Settings.load(require=("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PLANETSCALE_SERVICE_TOKEN_ID",
                                      "PLANETSCALE_SERVICE_TOKEN"))
    _logging(settings)
    tell_unknown_names(settings)
    sockets = socket_folder()  # before anything starts: a TMPDIR that cannot hold it is one line
    executor = TrackedExecutor()
    # The schema is checked (and SQLAlchemy loaded) just after the server has started, beside its first acks,
    # which never use the database; the work after them waits for it. A database that cannot be used still stops
    # the process with one line.
    store = Store(settings.database_url)
    store.ready.clear()
    holder = instance_name()
    deps = build_dependencies(settings, store=store, background=executor, holder=holder,
                              processes=1 + settings.workers)
    # The front does no work that lists the user groups: it lists them itself, on a thread of its own from the
    # start (beside auth.test), so that a help, the first one too, is answered in its ack as without workers.
    groups = Repeating("groups", deps.access.groups.refresh, GROUPS_EVERY) if settings.workers else None
    if groups is not None:
        groups.start()
    app = build_app(settings, deps)
    measure(settings, store)
    died: list[str] = []

    def worker_died(reason: str) -> None:
        died.append(reason)
        server.should_exit = True

    workers = None
    if settings.workers:  # the work after the acks, the sweep and the watch are the workers' (workers.py)
        rules = deps.access.source
        workers = Workers(settings.workers, holder, settings.drain_timeout, on_death=worker_died,
                          rules=rules.version if isinstance(rules, AccessFile) else None, settings=settings)
        executor.hand_to = workers.hand
        deps.home_viewers.tell = workers.home_opened
    # The sweep and the watch start once the schema is checked: their first steps load SQLAlchemy, which would
    # otherwise share the interpreter with the first acks.
    sweeper = None if workers else start_sweeper(deps, app, settings, start=False)
    watcher = None if workers else start_watcher(deps, app.client, settings, start=False)
    renewer = keep_leases(executor) if workers else None

    unusable: list[SettingsError] = []
    # What starts once the schema is checked starts under this lock, and only while serve is not stopping: a
    # SIGTERM during the check (a migration waiting for another instance's) leaves nothing started after `finish`.
    starting = threading.Lock()
    stopping: list[bool] = []
    began, checked = threading.Event(), threading.Event()

    def check_database() -> None:
        began.set()
        try:
            migrate(store)
            # SQLAlchemy's objects, loaded just now, live as long as the process: frozen, the collector's full
            # passes, which hold the interpreter and so the acks, skip them (docs/benchmarks.md).
            gc.freeze()
            with starting:
                if stopping or server.should_exit:
                    log.info("serve was stopped before it started: no worker, sweep or watch started")
                    stopping.append(True)
                elif workers:  # once the schema is up to date: they find it so
                    workers.start()
        except SettingsError as exc:
            unusable.append(exc)
            server.should_exit = True
        except Exception as exc:  # serving on with no worker, sweep or watch would ack work nobody does
            log.exception("the database's schema could not be checked")
            unusable.append(SettingsError(f"BACKUP_BOT_DATABASE_URL: the schema could not be checked "
                                          f"({type(exc).__name__}); see the log above."))
            server.should_exit = True
        finally:
            store.ready.set()
            checked.set()
        with starting:
            if not (stopping or server.should_exit):
                if sweeper is not None:
                    sweeper.start()
                if watcher is not None:
                    watcher.start()

    left: list[int] = []

    def finish() -> None:
        # SIGTERM: uvicorn has answered the requests in flight; the work already acked may finish, within a bound.
        # A schema check under way ends first (a migration is not cut in the middle), and then starts nothing.
        if began.is_set() and not checked.wait(settings.drain_timeout):
            log.warning("shutting down while the schema is still being checked, after %.0f s", settings.drain_timeout)
        with starting:
            stopping.append(True)
        if workers:
            workers.ask_to_stop()
        left.append(drain(executor, sweeper, watcher, deps, settings.drain_timeout))
        if workers:
            workers.join()
        if renewer is not None:
            renewer.stop(timeout=0)
        if groups is not None:
            groups.stop(timeout=0)

    def health() -> dict[str, Any]:
        report = health_report(deps, watcher, workers.reports() if workers else ())
        if workers and not workers.alive() and report.get("status") == "ok":
            report.update(status="unavailable", workers="a worker process has ended")
        elif workers and (stuck := workers.stuck()) and report.get("status") == "ok":
            report.update(status="unavailable", workers=f"{', '.join(stuck)} not answering for over "
                                                        f"{STUCK_SECONDS:g} s: nothing handed to it is done")
        return report

    def check_database_soon() -> None:
        # Importing SQLAlchemy holds the interpreter for a moment: not while the first acks are due.
        asyncio.get_running_loop().call_later(
            0.2, threading.Thread(target=check_database, name="schema", daemon=True).start)

    asgi = create_asgi_app(app, health=health, on_shutdown=finish,
                           on_startup=check_database_soon, signing_secret=settings.slack_signing_secret)
    log.info("serving on %s:%s, PlanetScale at %s", host, port or settings.port, settings.planetscale_api_url)
    # uvicorn, unmodified, on a Unix socket of this process's own; the TCP port is the front's, which bounds slow
    # clients (bot/runtime/front.py) and passes on only whole requests whose head is within HEAD_BYTES, each line
    # ending in CRLF: so uvicorn's C parser (httptools, its default) reads them, at a fraction of h11's time a
    # request, and h11's own bound on a head stays for where httptools is missing.
    server = uvicorn.Server(uvicorn.Config(asgi, uds=f"{sockets}/uvicorn.sock", log_config=None, access_log=False,
                                          timeout_graceful_shutdown=20, http="auto",
                                          h11_max_incomplete_event_size=HEAD_BYTES, timeout_keep_alive=5))
    front = Front(f"{sockets}/uvicorn.sock")

    async def serving() -> None:
        await front.start(host, port or settings.port)
        served = asyncio.ensure_future(server.serve())
        while not (server.should_exit or served.done()):  # SIGTERM: no new connection while uvicorn drains
            await asyncio.sleep(0.1)
        await front.close()
        await served

    # What start-up made lives as long as the process: frozen, the collector's full passes skip it. Not collected
    # first, which would lengthen the start; start-up's little garbage stays.
    gc.freeze()
    try:
        run_loop(serving())
    except OSError as exc:  # the port is taken or not ours to bind
        log.error("cannot serve on %s:%s: %s", host, port or settings.port, exc)
        return 1
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    if unusable:
        raise unusable[0]
    if died:
        exit_now(1)
    if any(left):
        exit_now()
    return 0


# How often the front of `serve` with workers looks whether its user groups are half-way to stale.
GROUPS_EVERY = 10.0


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """`main` on uvloop's event loop where it is installed (uvicorn[standard] brings it), as uvicorn's own default
    would: each request's passes through the front and uvicorn cost a fraction of asyncio's own loop's time."""
    try:
        from uvloop import run
    except ImportError:  # no uvloop, or one before 0.18, which has no `run`
        import asyncio

        asyncio.run(main)
        return
    run(main)


def keep_leases(executor: TrackedExecutor) -> InboxKeeper | None:
    """The front's own rows renewed from its start, while its first worker starts (whose keeper renews them too):
    a worker slow to start never lets them lapse to another instance while they wait for it."""
    from bot.adapters.store.inbox import Inbox
    from bot.runtime.sweeper import InboxKeeper

    inbox = executor.inbox
    if not isinstance(inbox, Inbox):
        return None
    keeper = InboxKeeper(inbox, redo=lambda payload, keys: 0)
    keeper.taking_over = False  # renewing only: taking over is the first worker's
    return keeper.start()


def measure(settings: Settings, store: Store) -> None:
    from bot.runtime import metrics

    limiter = settings.planetscale_limiter()
    metrics.BUDGET.configure(limiter.requests, limiter.per)
    metrics.count_pending(lambda: store.open_count() if store.ready.is_set() else 0)
    metrics.count_damaged(lambda: len(store.damaged))


def run_watch() -> int:
    import signal
    import threading

    from bot.runtime.app import build_dependencies, slack_client
    from bot.runtime.watch import build_watcher

    settings = Settings.load(require=("SLACK_BOT_TOKEN", "PLANETSCALE_SERVICE_TOKEN_ID", "PLANETSCALE_SERVICE_TOKEN"))
    _logging(settings)
    tell_unknown_names(settings)
    if settings.watch_every is None:
        raise SettingsError("BACKUP_BOT_WATCH_EVERY is off: set it to e.g. 5m to run the watch.")
    deps = build_dependencies(settings)
    watcher = build_watcher(deps, deps.slack or slack_client(settings), settings.watch_every).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    log.info("watching every %.0f s", settings.watch_every)
    try:
        stopped.wait()
    finally:
        watcher.stop()
        deps.close()
        deps.store.close()
    return 0


def run_migrate(out: TextIO) -> int:
    from bot.runtime.database import open_store

    settings = Settings.load()
    store = open_store(settings.database_url)
    print(f"backup-bot: the database is at schema version {store.version()}.", file=out)
    store.close()
    return 0


def run_socket(health_host: str, health_port: int | None) -> int:
    import signal
    import threading

    from slack_sdk.errors import SlackApiError

    from bot.runtime.app import build_app, build_dependencies, health_report
    from bot.runtime.executor import TrackedExecutor
    from bot.runtime.lifecycle import HealthServer, SocketConnection, drain
    from bot.runtime.socket_client import SocketHandler

    settings = Settings.load(require=("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "PLANETSCALE_SERVICE_TOKEN_ID",
                                      "PLANETSCALE_SERVICE_TOKEN"))
    _logging(settings)
    tell_unknown_names(settings)
    executor = TrackedExecutor()
    deps = build_dependencies(settings, background=executor)
    app = build_app(settings, deps)
    measure(settings, deps.store)
    handler = SocketHandler(app, settings.slack_app_token or "")
    connection = SocketConnection(handler.client.is_connected)
    handler.client.on_close_listeners.append(connection.closed)

    def stop_early(problem: str) -> SettingsError:
        executor.shutdown(wait=False)
        deps.close()
        deps.store.close()
        return SettingsError(problem)

    try:  # before connecting: a port taken is one line, as a token refused is, before anything else runs
        health = HealthServer(health_host, health_port, lambda: connection.told(health_report(deps, watcher))) \
            if health_port else None
    except OSError as exc:
        raise stop_early(f"--health-port {health_port}: /healthz could not listen on {health_host}:{health_port} "
                         f"({exc.strerror or type(exc).__name__}); choose another port.") from None
    try:
        handler.connect()  # type: ignore[no-untyped-call]
    except (SlackApiError, OSError) as exc:
        if health is not None:
            health.server.server_close()  # never served: nothing to shut down
        raise stop_early(socket_refused(exc)) from None
    sweeper = start_sweeper(deps, app, settings, socket_mode=True)
    watcher = start_watcher(deps, app.client, settings)
    if health is not None:
        health.start()
    stopped = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopped.set())
    log.info("connected over Socket Mode%s", f"; health check on {health_host}:{health_port}/healthz"
             if health_port else "")
    stopped.wait()
    # No new envelopes from here; the work already acked may finish, within a bound.
    try:
        handler.close()  # type: ignore[no-untyped-call]
    except Exception as exc:  # slack_sdk's oldest releases in range fail closing a connection already gone
        log.warning("closing the Socket Mode connection failed (%s); stopping all the same", type(exc).__name__)
    left = drain(executor, sweeper, watcher, deps, settings.drain_timeout)
    if health is not None:
        health.stop()
    if left:
        exit_now()
    return 0


def socket_refused(exc: Exception) -> str:
    """Why Slack opened no Socket Mode connection at start, in one line with what to do."""
    from bot.adapters.slack_shapes import UNREADABLE

    error = getattr(exc, "response", None)
    code = error.get("error") if error is not None else None
    if code in ("invalid_auth", "not_authed", "not_allowed_token_type", "account_inactive", "token_revoked"):
        return (f"Slack refused SLACK_APP_TOKEN ({code}): copy the app-level token (xapp-…) from Basic Information "
                "→ App-Level Tokens, one with the connections:write scope.")
    if code == UNREADABLE:
        return ("Slack answered apps.connections.open without a WebSocket URL the bot can open (ws:// or wss://): "
                "a proxy between the bot and Slack may answer in its place; the bot stops so that its supervisor "
                "starts it again.")
    return (f"Slack opened no Socket Mode connection ({code or type(exc).__name__}); the bot stops so that its "
            "supervisor starts it again.")


def run_console(demo: bool, out: TextIO) -> int:
    from bot.runtime import console
    from bot.runtime.settings import OUTSIDE_SERVICES

    settings = Settings.load(ignore=OUTSIDE_SERVICES if demo else ())
    _logging(settings, quiet=True, server=False)
    return console.main(settings, out)


if __name__ == "__main__":
    sys.exit(main())
