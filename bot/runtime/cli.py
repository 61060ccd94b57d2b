"""The `backup-bot` command (also `python -m bot`)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from bot.runtime.settings import Settings, SettingsError

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.runtime.sweeper import Sweeper
    from bot.runtime.watch import Watcher
    from handlers.dependencies import Dependencies

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backup-bot", description="Change PlanetScale backup policies from Slack.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT, then 3000")
    commands.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    commands.add_parser("watch", help="only the watch: changes made outside the bot, failing backups")
    commands.add_parser("migrate", help="bring the database's schema up to date")
    commands.add_parser("doctor", help="check the configuration end to end; non-zero exit on any problem")
    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="SUBCOMMAND")
    export = audit_commands.add_parser("export", help="every audit entry, oldest first")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", "-o", default="-", help="a file, or - for standard output (default)")
    commands.add_parser("console", help="a local Slack stand-in: type slash commands as a user")
    emulator = commands.add_parser("emulator", help="the bundled PlanetScale API emulator")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8900)
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            return run_serve(args.host, args.port)
        if args.command == "socket":
            return run_socket()
        if args.command == "console":
            return run_console()
        if args.command == "migrate":
            return run_migrate()
        if args.command == "watch":
            return run_watch()
        if args.command == "doctor":
            from bot.runtime.doctor import check

            return 1 if check(Settings.load, sys.stdout) else 0
        if args.command == "audit":
            return run_audit_export(args.format, args.output)
        return run_emulator(args.host, args.port)
    except SettingsError as exc:
        print(f"backup-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _logging(settings: Settings, quiet: bool = False) -> None:
    from bot.runtime import logs

    level = "WARNING" if quiet and settings.log_level == "INFO" else settings.log_level
    logs.configure(settings.secrets(), level=level, json_lines=settings.log_format == "json")


def run_serve(host: str, port: int | None) -> int:
    import asyncio
    import gc
    import threading

    import uvicorn

    from bot.adapters.store import Store
    from bot.runtime.app import build_app, build_dependencies, health_report, migrate
    from bot.runtime.executor import TrackedExecutor
    from bot.runtime.server import OneWriteHttp, create_asgi_app

    settings = Settings.load(require=("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PLANETSCALE_SERVICE_TOKEN_ID",
                                      "PLANETSCALE_SERVICE_TOKEN"))
    _logging(settings)
    executor = TrackedExecutor()
    # The schema is checked (and SQLAlchemy loaded) just after the server has started, beside its first acks,
    # which never use the database; the work after them waits for it. A database that cannot be used still stops
    # the process with one line.
    store = Store(settings.database_url)
    store.ready.clear()
    deps = build_dependencies(settings, store=store, background=executor)
    app = build_app(settings, deps)
    sweeper = start_sweeper(deps, app)
    watcher = start_watcher(deps, app.client, settings)

    unusable: list[SettingsError] = []

    def check_database() -> None:
        try:
            migrate(store)
            # SQLAlchemy, loaded just now, out of the collector's way too: left in the oldest generation, each of
            # its collections (now and then under load) held the interpreter, and the acks, for 8 ms.
            gc.freeze()
        except SettingsError as exc:
            unusable.append(exc)
            server.should_exit = True
        finally:
            store.ready.set()

    def finish() -> None:
        # SIGTERM: uvicorn has answered the requests in flight; let the work already acked finish too.
        log.info("shutting down: finishing %s", "the work already acknowledged")
        sweeper.stop()
        if watcher is not None:
            watcher.stop()
        executor.shutdown(wait=True)
        deps.store.close()

    def check_database_soon() -> None:
        # Not in the way of the first acks: importing SQLAlchemy would hold the interpreter for a fifth of a second.
        asyncio.get_running_loop().call_later(
            0.2, threading.Thread(target=check_database, name="schema", daemon=True).start)

    asgi = create_asgi_app(app, health=lambda: health_report(deps, watcher), on_shutdown=finish,
                           on_startup=check_database_soon, signing_secret=settings.slack_signing_secret)
    log.info("serving on %s:%s, PlanetScale at %s", host, port or settings.port, settings.planetscale_api_url)
    server = uvicorn.Server(uvicorn.Config(asgi, host=host, port=port or settings.port, log_config=None,
                                          access_log=False, timeout_graceful_shutdown=20, http=OneWriteHttp))
    # What start-up made lives as long as the process: out of the collector's way, a collection of the older
    # generation pauses for about 2 ms instead of 9 (measured under the bench's bursts). Without collecting
    # first, which would hold the start for 20 ms; start-up's little garbage stays.
    gc.freeze()
    server.run()
    if unusable:
        raise unusable[0]
    return 0


def start_sweeper(deps: Dependencies, app: App) -> Sweeper:
    from bot.runtime.sweeper import Sweeper
    from handlers.posting import sweep_reporter

    return Sweeper(deps.changes, sweep_reporter(deps, app.client)).start()


def start_watcher(deps: Dependencies, client: WebClient, settings: Settings) -> Watcher | None:
    """The watch in the background, unless BACKUP_BOT_WATCH_EVERY is off."""
    from bot.runtime.watch import build_watcher

    if settings.watch_every is None:
        return None
    return build_watcher(deps, client, settings.watch_every).start()


def run_watch() -> int:
    import signal
    import threading

    from bot.runtime.app import build_dependencies, slack_client
    from bot.runtime.watch import build_watcher

    settings = Settings.load(require=("SLACK_BOT_TOKEN", "PLANETSCALE_SERVICE_TOKEN_ID", "PLANETSCALE_SERVICE_TOKEN"))
    _logging(settings)
    if settings.watch_every is None:
        raise SettingsError("BACKUP_BOT_WATCH_EVERY is off: set it to e.g. 5m to run the watch.")
    deps = build_dependencies(settings)
    watcher = build_watcher(deps, slack_client(settings), settings.watch_every).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    log.info("watching every %.0f s", settings.watch_every)
    try:
        stopped.wait()
    finally:
        watcher.stop()
        deps.store.close()
    return 0


def run_migrate() -> int:
    from bot.runtime.app import open_store

    settings = Settings.load()
    store = open_store(settings.database_url)
    print(f"backup-bot: the database is at schema version {store.version()}.")
    store.close()
    return 0


def run_audit_export(fmt: str, output: str) -> int:
    import csv
    import json
    from dataclasses import asdict, fields

    from bot.domain.audit import AuditEvent, csv_cell
    from bot.runtime.app import open_store

    settings = Settings.load()
    store = open_store(settings.database_url)
    out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        names = [f.name for f in fields(AuditEvent)]
        writer = csv.DictWriter(out, fieldnames=names) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        for event in store.all_events():
            row = asdict(event)
            if writer:
                writer.writerow({k: csv_cell(v) for k, v in row.items()})
            else:  # json.dumps writes every control character as an escape (ensure_ascii)
                out.write(json.dumps(row, sort_keys=True) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
        store.close()
    return 0


def run_socket() -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.runtime.app import build_app, build_dependencies

    settings = Settings.load(require=("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "PLANETSCALE_SERVICE_TOKEN_ID",
                                      "PLANETSCALE_SERVICE_TOKEN"))
    _logging(settings)
    deps = build_dependencies(settings)
    app = build_app(settings, deps)
    sweeper = start_sweeper(deps, app)
    watcher = start_watcher(deps, app.client, settings)
    try:
        SocketModeHandler(app, settings.slack_app_token).start()  # type: ignore[no-untyped-call]
    finally:
        sweeper.stop()
        if watcher is not None:
            watcher.stop()
    return 0


def run_console() -> int:
    from bot.runtime import console

    settings = Settings.load()
    _logging(settings, quiet=True)
    return console.main(settings)


def run_emulator(host: str, port: int) -> int:
    import uvicorn

    from bot.emulators.planetscale import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleEmulator

    print(f"PlanetScale emulator on http://{host}:{port}/v1 with the demo organization `acme`.\n"
          f"Point the bot at it:\n  PLANETSCALE_API_URL=http://{host}:{port}/v1\n"
          f"  PLANETSCALE_SERVICE_TOKEN_ID={DEMO_TOKEN_ID}\n  PLANETSCALE_SERVICE_TOKEN={DEMO_TOKEN}", flush=True)
    uvicorn.run(PlanetScaleEmulator(), host=host, port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
