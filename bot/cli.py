"""The `backup-bot` command (also `python -m bot`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.settings import Settings, SettingsError

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backup-bot", description="Change PlanetScale backup policies from Slack.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT, then 3000")
    commands.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
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
        return run_emulator(args.host, args.port)
    except SettingsError as exc:
        print(f"backup-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _logging(settings: Settings, level: str = "INFO") -> None:
    from bot import logs

    logs.configure(settings.secrets(), level=os.environ.get("BACKUP_BOT_LOG_LEVEL", level),
                   json_lines=os.environ.get("BACKUP_BOT_LOG_FORMAT", "").lower() == "json")


def run_serve(host: str, port: int | None) -> int:
    import uvicorn

    from bot.app import build_app, build_dependencies
    from bot.executor import TrackedExecutor
    from bot.server import create_asgi_app

    settings = Settings.load(require=("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PLANETSCALE_SERVICE_TOKEN_ID",
                                      "PLANETSCALE_SERVICE_TOKEN"))
    _logging(settings)
    executor = TrackedExecutor()
    app = build_app(settings, build_dependencies(settings, background=executor))
    asgi = create_asgi_app(app)
    log.info("serving on %s:%s, PlanetScale at %s", host, port or settings.port, settings.planetscale_api_url)
    uvicorn.run(asgi, host=host, port=port or settings.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=20)
    # SIGTERM: uvicorn has finished the requests in flight; let the changes already acked finish too.
    executor.shutdown(wait=True)
    return 0


def run_socket() -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import build_app, build_dependencies

    settings = Settings.load(require=("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "PLANETSCALE_SERVICE_TOKEN_ID",
                                      "PLANETSCALE_SERVICE_TOKEN"))
    _logging(settings)
    app = build_app(settings, build_dependencies(settings))
    SocketModeHandler(app, settings.slack_app_token).start()  # type: ignore[no-untyped-call]
    return 0


def run_console() -> int:
    from bot import console

    settings = Settings.load()
    _logging(settings, level="WARNING")
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
