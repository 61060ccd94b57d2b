"""`backup-bot emulator`: the bundled PlanetScale API emulator (and Slack's, with `--slack-port`) in the foreground,
with the settings that point the bot at them."""

from __future__ import annotations

from typing import TextIO

from bot.runtime.settings import SettingsError


def run_emulator(host: str, port: int, slack_port: int | None, out: TextIO) -> int:
    import secrets

    import uvicorn

    from bot.emulators.planetscale import PlanetScaleEmulator
    from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID
    from bot.emulators.serving import BackgroundServer, cannot_listen
    from bot.emulators.slack import SlackEmulator, demo_slack_state

    if slack_port == port:  # each free when checked alone: the second emulator would fail after both were shown
        raise SettingsError(f"--slack-port {slack_port}: the PlanetScale emulator listens there (--port); choose "
                            "another port for Slack's.")
    for option, number in (("--port", port), ("--slack-port", slack_port)):  # before any setting is shown
        why = cannot_listen(host, number) if number is not None else None
        if why is not None:
            named = f"--host {host}" if why.startswith(("no such host", "not an address")) else f"{option} {number}"
            raise SettingsError(f"{named}: the emulator cannot listen on {host}:{number} ({why}); choose another "
                                f"{named.split()[0].split('-')[-1]}.")
    print(f"PlanetScale emulator on http://{host}:{port}/v1 with the demo organization `acme`.\n"
          f"Point the bot at it:\n  PLANETSCALE_API_URL=http://{host}:{port}/v1\n"
          f"  PLANETSCALE_SERVICE_TOKEN_ID={DEMO_TOKEN_ID}\n  PLANETSCALE_SERVICE_TOKEN={DEMO_TOKEN}", file=out,
          flush=True)
    slack = None
    try:
        if slack_port is not None:
            token = "xoxb-emulator-" + secrets.token_hex(6)
            try:
                slack = BackgroundServer(SlackEmulator(demo_slack_state(token)), host=host, port=slack_port).start()
            except RuntimeError:  # it could not listen there: the port taken, or the host not this machine's
                raise SettingsError(f"--slack-port {slack_port}: the Slack emulator could not listen on {host}:"
                                    f"{slack_port} (is another process using it?); choose another port.") from None
            print(f"Slack Web API emulator on http://{host}:{slack_port}/api/ with the demo workspace: people "
                  "U0ALICE001 (alice), U0BOB00001 (bob), U0CAROL001 (carol), U0DAVE0001 (dave); groups @dba-team, "
                  "@dba-leads; channels C0DBAOPS01 (#db-ops), C0RANDOM01 (#random).\n"
                  f"Point the bot at it (the signing secret may be any 32 hex digits: this emulator sends no "
                  f"requests):\n  SLACK_API_URL=http://{host}:{slack_port}/api/\n  SLACK_BOT_TOKEN={token}\n"
                  f"  SLACK_SIGNING_SECRET={secrets.token_hex(16)}", file=out, flush=True)
        uvicorn.run(PlanetScaleEmulator(), host=host, port=port, log_level="warning")
    finally:
        if slack is not None:
            slack.stop()
    return 0
