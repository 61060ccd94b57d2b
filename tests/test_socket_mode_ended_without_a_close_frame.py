"""`backup-bot socket` whose connection Slack's side ends without a close frame (a TCP FIN: a proxy or a load
balancer between them gone): the app opens another at once, and takes the next envelope on it, without spinning a
CPU meanwhile. Before, it read the ended connection in a loop at full speed, deaf and reported connected, until
slack_sdk's stale check some 50 s later. Against the Slack emulator's websocket, reached through a proxy that ends
the app's side of the connection."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from processes import access_rules, command, serve_env, wait_until

from bot.emulators.planetscale_state import PlanetScaleState
from bot.emulators.slack import MethodFault, SlackState
from bot.emulators.slack_requests import socket_envelope

APP_TOKEN = "xapp-1-A0BACKUPBOT-test"


class EndingProxy:
    """Forwards TCP to `upstream`; `end` closes each connection to `upstream` (so the emulator sends nothing more
    on it) and then sends a FIN to each client, as a proxy that goes away does."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.clients: list[socket.socket] = []
        self.servers: list[socket.socket] = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.clients.append(client)
            self.servers.append(server)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)

    def end(self) -> None:
        for server in self.servers:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
        for client in self.clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for each in [self.listener, *self.clients, *self.servers]:
            with contextlib.suppress(OSError):
                each.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_a_connection_ended_without_a_close_frame_is_opened_again_at_once_without_spinning(
        tmp_path: Path, slack: SlackState, planetscale: PlanetScaleState, slack_server: Any,
        planetscale_server: Any) -> None:
    slack.app_token = APP_TOKEN
    (tmp_path / "access.toml").write_text(access_rules(0))
    host, port = slack_server[1].url.removeprefix("http://").split(":")
    proxy = EndingProxy((host, int(port)))
    # The first connection goes through the proxy; the next ones straight to the emulator.
    slack.add_fault(MethodFault("apps.connections.open",
                                body={"ok": True, "url": f"ws://127.0.0.1:{proxy.port}/socket"}))
    env = {**serve_env(slack_server, planetscale_server, f"sqlite:///{tmp_path / 'bot.db'}"),
           "SLACK_APP_TOKEN": APP_TOKEN, "BACKUP_BOT_WATCH_EVERY": "off"}
    good = dict(parse_qsl(command("update acme/app-db bp03devday retention=9d", slack_server[1].url)))
    with open(tmp_path / "socket.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "socket"], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_until(lambda: slack.socket_connections >= 1, "the app did not connect over Socket Mode")
        before, ended = cpu_seconds(process.pid), time.monotonic()
        proxy.end()
        # slack_sdk's stale check opens another after 4 pings (40-50 s): well past this.
        wait_until(lambda: slack.socket_connections >= 2, "the app did not connect again after its connection "
                   "ended", timeout=20)
        spent, took = cpu_seconds(process.pid) - before, time.monotonic() - ended
        assert spent < max(2.0, took / 2), f"{spent:.1f} CPU seconds in the {took:.1f} s without a connection"
        with slack.lock:
            slack.socket_outbox.append(socket_envelope("slash_commands", good, "after"))
        wait_until(lambda: any(a.get("envelope_id") == "after" for a in slack.socket_acks), "no ack")
        wait_until(lambda: any(e.kind == "message" for e in slack.events), "the change was not posted")
    finally:
        process.terminate()
        process.wait(timeout=30)
        proxy.close()
    assert [c.body for c in planetscale.calls("PATCH")] == [{"retention_value": 9, "retention_unit": "day"}]
    assert "Traceback" not in (tmp_path / "socket.log").read_text()
