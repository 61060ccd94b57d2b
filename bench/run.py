"""Speed of `backup-bot serve` as Slack and people see it, beside a bare Bolt app measured in the same run.

    make bench     # or: .venv/bin/python -m bench.run [--only acks|trips|budget|cold|sustained|history|soak]
                   #     [--kind list] [--people 100] [--no-write] [--soak 30m] [--postgres URL]
    make bench SOAK=1 BENCH_POSTGRES_URL=postgresql://…   # with the 30-minute soak and the history on PostgreSQL

Both apps run as their own uvicorn processes; the Slack and PlanetScale emulators run in this process, and
the load client (bench/load.py) in a process of its own, so that neither the emulators nor the bench's
bookkeeping hold the client up. Every figure is beside the bare app's or beside the floor a bare client reaches
making the calls the answer needs (bench/floor_client.py), as a ratio; acks are judged under a sustained load (one
person at a time, the open loop), and back-to-back acks are shown as saturation. A whole run writes
docs/benchmarks.md and the README's table.

BENCH_DATABASE_URL=postgresql://… runs the bot on that database (an empty one) instead of SQLite.
BENCH_WORKERS=0 measures `serve` without its worker processes (BACKUP_BOT_WORKERS), the work after the acks in
the process that acks.

Where the bot's time goes: BENCH_PROFILE=/tmp/bot.txt (with BENCH_PROFILE_GIL=1 for the time it holds the
interpreter) runs it under py-spy, one collapsed stack a line, per thread.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import FloorServer, LoadClient, http_request
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_demo import seed_demo
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer, ThrowawayTLS
from bot.emulators.slack import SlackEmulator, SlackEvent, SlackState, demo_slack_state
from bot.emulators.slack_requests import block_actions_body, signed_headers, slash_command_body

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = secrets.token_hex(16)
BOT_TOKEN = "xoxb-bench-" + secrets.token_hex(6)
CHANNEL = "C0DBAOPS01"
# Speed phases lift PlanetScale's budget, which would otherwise be what they measure; the budget phase keeps it.
UNLIMITED_RATE = "1000000/min"
# Acks within 2× of the bare app: a guard against gross regressions, not a target (issue 21, item 7).
IN_ACK_LIMIT, AFTER_ACK_LIMIT, FLOOR_LIMIT, COLD_LIMIT = 2.0, 2.0, 1.2, 2.0
# Acks are measured in turns with the bare app, so that both meet the same moments of a busy machine.
# docs/benchmarks.md from this line on is written by hand and kept by each run.
BY_HAND = "<!-- by hand: make bench keeps what follows -->"
ROUNDS = 6
ACCESS_RULES = """
[[rules]]   # production: DBAs ask, a lead approves
organizations = ["acme"]
databases = ["*"]
targets = ["production"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = 1

[[rules]]
organizations = ["acme"]
databases = ["*"]
targets = ["development"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
"""
POLICIES_PER_BENCH_DB = 3  # as many as a real database has: a click re-reads its list


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Server:
    """An app under test: its own process, on its own port."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name, self.argv, self.env = name, argv, env
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = RESULTS / f"{argv[argv.index('-m') + 1].replace('.', '_')}.log"

    def start(self, probe: bytes) -> float:
        """Spawn the process; the time until it acks `probe`, in ms."""
        started = time.perf_counter()
        self.process = subprocess.Popen(self.argv, env={**self.env, "PORT": str(self.port)}, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))
        deadline = started + 60
        while True:
            if self.process.poll() is not None or time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(probe)
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return (time.perf_counter() - started) * 1000
            except OSError:
                time.sleep(0.002)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until /healthz answers 200: the bot checks its schema (and loads SQLAlchemy) in a thread just after it
        starts, which would otherwise share the interpreter with the first acks measured."""
        deadline = time.perf_counter() + timeout
        probe = f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\nconnection: close\r\n\r\n".encode()
        while time.perf_counter() < deadline:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(probe)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} was not ready after {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def cpu_ms(self) -> tuple[float, float]:
        """CPU time so far: the event loop's thread (where acks are made), and every other thread. From the
        scheduler's nanoseconds (`schedstat`), where `stat`'s ticks of 10 ms were coarser than an ack."""
        assert self.process is not None
        pid = self.process.pid
        main = rest = 0.0
        # Its worker processes' (serve's BACKUP_BOT_WORKERS) count with the other threads: they do the work.
        for task in [*Path(f"/proc/{pid}/task").iterdir(), *(t for child in children(pid)
                                                              for t in Path(f"/proc/{child}/task").iterdir())]:
            try:
                used = int((task / "schedstat").read_text().split()[0]) / 1e6
            except (OSError, ValueError, IndexError):
                continue
            if task.name == str(pid):
                main += used
            else:
                rest += used
        return main, rest

    def peak_rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # py-spy writes its profile on SIGINT
            self.process.send_signal(signal.SIGINT if self.argv[0] == "py-spy" else signal.SIGTERM)
            self.process.wait(timeout=60)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


class Slack:
    """Signed requests as Slack sends them, each with a response URL of its own."""

    def __init__(self, slack_url: str):
        self.slack_url = slack_url
        self.n = 0

    def _key(self) -> str:
        self.n += 1
        return f"b{self.n}"

    def command(self, port: int, text: str, user: str = "U0ALICE001", name: str = "alice") -> tuple[str, bytes]:
        key = self._key()
        body = slash_command_body(text, user_id=user, user_name=name, channel_id=CHANNEL, channel_name="db-ops",
                                  response_url=f"{self.slack_url}/response/{key}", trigger_id=f"{self.n}.bench")
        return key, self.sign(port, body)

    def click(self, port: int, request_id: str, message: SlackEvent | None) -> tuple[str, bytes]:
        key = self._key()
        shown = {"type": "message", "ts": message.ts, "blocks": message.blocks} if message else None
        body = block_actions_body(
            user_id="U0CAROL001", user_name="carol", channel_id=CHANNEL,
            response_url=f"{self.slack_url}/response/{key}", trigger_id=f"{self.n}.bench", message=shown,
            action={"type": "button", "action_id": "request_approve", "block_id": "b", "value": request_id})
        return key, self.sign(port, body)

    @staticmethod
    def sign(port: int, body: str) -> bytes:
        headers = {k: str(v) for k, v in signed_headers(SECRET, body).items()}
        return http_request(port, "/slack/events", body.encode(), headers)


@dataclass
class Emulators:
    slack: SlackState
    planetscale: PlanetScaleState
    slack_server: BackgroundServer
    planetscale_server: BackgroundServer

    def events(self) -> int:
        with self.slack.lock:
            return len(self.slack.events)

    def responses(self) -> int:
        """Posts to response URLs so far (each a call to Slack, like a Web API method's)."""
        with self.slack.lock:
            return sum(1 for e in self.slack.events if e.kind == "response")

    def events_since(self, cursor: int) -> list[SlackEvent]:
        with self.slack.lock:
            return list(self.slack.events[cursor:])

    def wait_events(self, cursor: int, count: int, timeout: float = 180) -> list[SlackEvent]:
        deadline = time.perf_counter() + timeout
        while self.events() < cursor + count:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {self.events() - cursor} of {count} answers reached Slack")
            time.sleep(0.005)
        return self.events_since(cursor)

    def bot_env(self, rate: str, tls: ThrowawayTLS | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
        env.update({"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_API_URL": self.slack_server.url + "/api/",
                    "PLANETSCALE_API_URL": self.planetscale_server.url + "/v1",
                    "PLANETSCALE_SERVICE_TOKEN_ID": DEMO_TOKEN_ID, "PLANETSCALE_SERVICE_TOKEN": DEMO_TOKEN,
                    "BACKUP_BOT_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                    "BACKUP_BOT_DATABASE_URL": f"sqlite:///{RESULTS / 'bench.db'}",
                    "BACKUP_BOT_ACCESS_FILE": str(RESULTS / "access.toml"), "BACKUP_BOT_PLANETSCALE_RATE": rate,
                    # The watch reads every policy on its own schedule: off, so the requests counted are the
                    # commands' own and the budget burst has PlanetScale to itself.
                    "BACKUP_BOT_WATCH_EVERY": "off"})
        if tls:
            env["SSL_CERT_FILE"] = tls.ca_file
        if "BENCH_DATABASE_URL" in os.environ:  # the bot's database instead of SQLite's bench/results/bench.db
            env["BACKUP_BOT_DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
        if "BENCH_WORKERS" in os.environ:  # to measure serve without its worker processes (0), or with more
            env["BACKUP_BOT_WORKERS"] = os.environ["BENCH_WORKERS"]
        return env


def start_emulators(latency: float = 0.0, tls: ThrowawayTLS | None = None) -> Emulators:
    slack = demo_slack_state(BOT_TOKEN)
    planetscale = seed_demo(PlanetScaleState())
    slack_server = BackgroundServer(SlackEmulator(slack), latency=latency, tls=tls).start()
    planetscale_server = BackgroundServer(PlanetScaleEmulator(planetscale), latency=latency, tls=tls).start()
    return Emulators(slack, planetscale, slack_server, planetscale_server)


def stop_emulators(emulators: Emulators) -> None:
    emulators.slack_server.stop()
    emulators.planetscale_server.stop()


# --- acks ---------------------------------------------------------------------------------------------------


@dataclass
class Kind:
    """One kind of request measured for its ack: how to make N of them, and what each leaves in Slack."""

    name: str
    in_ack: bool  # answered in the ack itself, or with work after it
    make: Callable[[Server, int], list[tuple[str, bytes]]]
    answers_each: int  # events each leaves in Slack, to wait for before the next measurement


@dataclass
class AckFigures:
    in_ack: bool
    p50: float
    p99_at_8: float
    planetscale_calls: float | None = None
    cpu_ack_ms: float = 0.0  # the server's CPU per request, in the thread that acks
    cpu_after_ms: float = 0.0  # and in the others (the work after the ack)
    person_p50: float = 0.0  # one person at a time: each sent once the previous one's work is done
    person_p90: float = 0.0


class AckSamples:
    """Acks of one kind of request from one server, gathered over several rounds."""

    def __init__(self, server: Server, path: Kind, emulators: Emulators | None):
        self.server, self.path, self.emulators = server, path, emulators
        self.ones: list[float] = []
        self.eights: list[list[float]] = []  # one list a round
        self.calls: list[float] = []
        self.cpu: list[tuple[float, float]] = []
        self.people: list[float] = []  # one person at a time

    def run(self, client: LoadClient, count: int, concurrency: int) -> list[float]:
        server, path, emulators = self.server, self.path, self.emulators
        made = path.make(server, count)
        cursor = emulators.events() if emulators else 0
        before = len(emulators.planetscale.calls()) if emulators else 0
        cpu_before = server.cpu_ms()
        answers = client.drive(server.port, [raw for _, raw in made], concurrency)
        bad = [a for a in answers if a.status != 200]
        if bad or len(answers) != count:
            raise RuntimeError(f"{server.name}, {path.name}: {len(bad)} failed, e.g. {bad[:1]}")
        if emulators:  # every answer in Slack before anything else is measured
            if path.answers_each:
                emulators.wait_events(cursor, count * path.answers_each)
            time.sleep(0.05)
            self.calls.append((len(emulators.planetscale.calls()) - before) / count)
        cpu_after = server.cpu_ms()
        self.cpu.append(((cpu_after[0] - cpu_before[0]) / count, (cpu_after[1] - cpu_before[1]) / count))
        return [a.elapsed_ms for a in answers]

    def one_person(self, client: LoadClient, raw: bytes) -> float:
        """One request's ack, in ms, on a connection of its own opened before its clock starts."""
        [answer] = client.drive(self.server.port, [raw], 1)
        if answer.status != 200:
            raise RuntimeError(f"{self.server.name}, {self.path.name}: {answer.status} {answer.body[:200]!r}")
        return answer.elapsed_ms

    def figures(self) -> AckFigures:
        cpu = self.cpu[1:]  # not the warm-up's
        # Each round's p99, then their median: one stall of the machine during one round (a few ms, as often in
        # the bare app's rounds as in the bot's) no longer decides the figure, a stall of the app's own in
        # every round still does.
        p99 = statistics.median(percentile(round_, 99) for round_ in self.eights)
        return AckFigures(self.path.in_ack, statistics.median(self.ones), p99,
                          statistics.mean(self.calls[1:]) if self.calls else None,
                          statistics.mean(c[0] for c in cpu), statistics.mean(c[1] for c in cpu),
                          statistics.median(self.people) if self.people else 0.0,
                          percentile(self.people, 90) if self.people else 0.0)


def measure_acks(client: LoadClient, bare: AckSamples, bot: AckSamples, one: int, eight: int,
                 rounds: int = ROUNDS) -> None:
    """The bare app and the bot in turns, so that both meet the same moments of a busy machine."""
    for samples in (bare, bot):
        samples.run(client, min(30, one), 1)  # warm-up
    for _ in range(rounds):
        for samples in (bare, bot):
            samples.ones += samples.run(client, one // rounds, 1)
        for samples in (bare, bot):
            samples.eights.append(samples.run(client, eight // rounds, 8))


def measure_people(client: LoadClient, bare: AckSamples, bot: AckSamples, count: int) -> None:
    """One person at a time: each request sent only once the previous one's work is done (its answers in Slack),
    the bare app's and the bot's in turns, so that both meet the same moments of a busy machine."""
    if count <= 0:
        return
    made = [[raw for _, raw in samples.path.make(samples.server, count)] for samples in (bare, bot)]
    for i in range(count):
        for samples, raws in zip((bare, bot), made, strict=True):
            emulators = samples.emulators
            cursor = emulators.events() if emulators else 0
            elapsed = samples.one_person(client, raws[i])
            if emulators and samples.path.answers_each:
                emulators.wait_events(cursor, samples.path.answers_each)
            time.sleep(0.05)  # what the work does after its answer, and the same pause after the bare app's ack
            samples.people.append(elapsed)


class PendingRequests:
    """Production policies in databases of their own, and a pending request on each to approve."""

    def __init__(self, emulators: Emulators, slack: Slack, client: LoadClient):
        self.emulators, self.slack, self.client = emulators, slack, client
        self.made = 0

    def make(self, server: Server, count: int) -> list[tuple[str, SlackEvent]]:
        state = self.emulators.planetscale
        policies = []
        for _ in range(count):
            i = self.made
            self.made += 1
            database = f"bench-{i // POLICIES_PER_BENCH_DB:03d}"
            if (("acme", database)) not in state.databases:
                state.add_database("acme", database)
            state.add_policy("acme", database, f"bpbench{i:05d}", name=f"Bench {i}", target="production")
            policies.append((database, f"bpbench{i:05d}"))
        cursor = self.emulators.events()
        requests = [self.slack.command(server.port, f"update acme/{db} {policy} retention=3d")[1]
                    for db, policy in policies]
        self.client.drive(server.port, requests, 8)
        # The request in the channel, among the other notices of a request (the requester's answer, DMs…).
        deadline = time.perf_counter() + 180
        found: dict[str, SlackEvent] = {}
        while len(found) < count:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {len(found)} of {count} requests reached Slack")
            time.sleep(0.005)
            for event in self.emulators.events_since(cursor):
                for block in event.blocks if event.kind == "message" else []:
                    for element in block.get("elements", []):
                        if element.get("action_id") == "request_approve":
                            found[element["value"]] = event
        time.sleep(0.05)  # the rest of the requests' notices, before anything is measured
        return list(found.items())


def ack_paths(slack: Slack, pending: PendingRequests | None,
              shown: Callable[[], SlackEvent] | None = None) -> list[Kind]:
    """`pending` makes real requests to approve; without it (the bare app), the clicks carry the message a
    real request shows (`shown`), as Slack sends it with every click, on made-up request IDs."""
    def commands(text: str | Callable[[int], str]) -> Callable[[Server, int], list[tuple[str, bytes]]]:
        return lambda server, n: [slack.command(server.port, text(i) if callable(text) else text) for i in range(n)]

    def clicks(server: Server, n: int) -> list[tuple[str, bytes]]:
        if pending is None:
            message = shown() if shown else None
            return [slack.click(server.port, f"{i:08d}-bench", message) for i in range(n)]
        return [slack.click(server.port, request_id, message) for request_id, message in pending.make(server, n)]

    return [
        Kind("refused in the ack (`update … retention=0d`)", True,
              commands("update acme/app-db bp03devday retention=0d"), 0),
        Kind("`help`", True, commands("help"), 0),
        Kind("`list acme/app-db`", False, commands("list acme/app-db"), 1),
        Kind("`update` (development, applied at once)", False,
              commands(lambda i: f"update acme/app-db bp03devday retention={4 + i % 60}d"), 1),
        Kind("approval click (applies the change)", False, clicks, 1),
    ]


# --- round trips ----------------------------------------------------------------------------------------------


@dataclass
class Trip:
    name: str
    floor_trips: float  # round trips the bot must wait for one after another, and half of one to deliver
    how: str
    answer_ms: float = 0.0
    planetscale_calls: float = 0.0
    slack_calls: float = 0.0
    floor_calls: str = ""  # bench/floor_client.py's trip of the same calls, "" for none
    measured_floor_ms: float = 0.0  # that trip's median, made by a bare client in the same run


def measure_trips(client: LoadClient, server: Server, emulators: Emulators, slack: Slack, count: int,
                  pending: PendingRequests) -> tuple[list[Trip], dict[str, tuple[int, int]]]:
    def one_by_one(make: Callable[[int], tuple[str, bytes]], done: Callable[[SlackEvent], bool]) -> \
            tuple[list[float], float, float]:
        times = []
        calls, slack_calls = len(emulators.planetscale.calls()), len(emulators.slack.calls) + emulators.responses()
        for i in range(count + 3):
            cursor = emulators.events()
            _, raw = make(i)
            [answer] = client.drive(server.port, [raw], 1)
            if b'"blocks"' in answer.body:  # answered in the ack itself
                elapsed = answer.elapsed_ms
            else:
                deadline = time.perf_counter() + 30
                while not any(done(e) for e in emulators.events_since(cursor)):
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"no answer in 30 s: {answer.body[:200]!r}")
                    # Events carry their arrival time; polling often would only take the interpreter from
                    # the emulators that serve the bot.
                    time.sleep(0.005)
                event = next(e for e in emulators.events_since(cursor) if done(e))
                elapsed = (event.at - answer.started) * 1000
            time.sleep(0.05)
            if i >= 3:  # the first ones warm the connections
                times.append(elapsed)
        n = count + 3
        return (times, (len(emulators.planetscale.calls()) - calls) / n,
                (len(emulators.slack.calls) + emulators.responses() - slack_calls) / n)

    trips = [
        Trip("`help` → answer", 0, "none: in the ack, from the rules and the cached user groups (after the "
             "groups are listed, once a minute: 1)"),
        Trip("`list` → answer", 1.5, "PlanetScale list; the answer's post arrives", floor_calls="list"),
        Trip("`update` (development) → result in channel", 2.5, "PlanetScale list, PATCH; chat.postMessage arrives",
             floor_calls="update"),
        Trip("approval click → message updated", 3.5,
             "Slack usergroups.list (the approver's groups as they are now), PlanetScale list (the re-read before "
             "applying), PATCH; chat.update arrives", floor_calls="click"),
    ]
    port = server.port
    requests = pending.make(server, count + 3)
    opened = (emulators.slack_server.connections, emulators.planetscale_server.connections)
    calls = (len(emulators.slack.calls) + emulators.responses(), len(emulators.planetscale.calls()))
    makers: list[tuple[Callable[[int], tuple[str, bytes]], Callable[[SlackEvent], bool]]] = [
        (lambda i: slack.command(port, "help"), lambda e: e.kind == "response"),
        (lambda i: slack.command(port, "list acme/app-db"), lambda e: e.kind == "response"),
        (lambda i: slack.command(port, f"update acme/app-db bp03devday retention={4 + i % 60}d"),
         lambda e: e.kind == "message"),
        (lambda i: slack.click(port, *requests[i]), lambda e: e.kind == "update"),
    ]
    for trip, (make, done) in zip(trips, makers, strict=True):
        times, trip.planetscale_calls, trip.slack_calls = one_by_one(make, done)
        trip.answer_ms = statistics.median(times)
    connections = {
        "Slack": (len(emulators.slack.calls) + emulators.responses() - calls[0],
                  emulators.slack_server.connections - opened[0]),
        "PlanetScale": (len(emulators.planetscale.calls()) - calls[1],
                        emulators.planetscale_server.connections - opened[1])}
    return trips, connections


# --- the whole run ------------------------------------------------------------------------------------------


@dataclass
class Report:
    client_floor: tuple[float, float] = (0.0, 0.0)
    acks: dict[str, dict[str, AckFigures]] = field(default_factory=dict)  # app → path → figures
    cold: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    trips: list[Trip] = field(default_factory=list)
    latency_ms: float = 0.0
    connections: dict[str, tuple[int, int]] = field(default_factory=dict)  # emulator → (calls, connections)
    budget: dict[str, Any] = field(default_factory=dict)
    sustained: Any = None  # bench.sustained.Mix
    soak: Any = None
    history: list[Any] = field(default_factory=list)  # bench.history.Trail, empty then full
    watch: tuple[list[str], list[str]] | None = None  # bench.watch_scale's table and misses
    open_loop: list[Any] = field(default_factory=list)  # bench.open_loop.OpenLoopFigures, a rate each


def bare_server(env: dict[str, str]) -> Server:
    return Server("bare Bolt app (ack only)", [sys.executable, "-m", "bench.bare_app"], env)


def bot_server(env: dict[str, str], name: str = "backup-bot serve", profile: bool = True) -> Server:
    argv = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1"]
    server = Server(name, argv, env)
    output = os.environ.get("BENCH_PROFILE")  # a py-spy output file: where the bot's time goes, per thread
    if output and profile:
        server.argv = ["py-spy", "record", "--threads", "--gil" if os.environ.get("BENCH_PROFILE_GIL") else "--idle",
                       "--nonblocking", "-r", "1000", "-f", "raw", "-o", output, "--", *argv]
    return server


def cold_start(make: Callable[[], Server], slack: Slack) -> float:
    server = make()
    try:
        return server.start(slack.command(server.port, "help")[1])
    finally:
        server.stop()


def chosen(name: str, kinds: list[str] | None) -> bool:
    """Whether `--kind` chooses the kind `name`: any part of its name, in any case (`click`, `Update`, `list`)."""
    return not kinds or any(kind.casefold() in name.casefold() for kind in kinds)


def run_acks(report: Report, client: LoadClient, one: int, eight: int, kinds: list[str] | None = None,
             rates: tuple[float, ...] = (), people: int = 100) -> None:
    emulators = start_emulators()
    bare, bot = None, None
    try:
        slack = Slack(emulators.slack_server.url)
        env = emulators.bot_env(UNLIMITED_RATE)
        pending = PendingRequests(emulators, slack, client)
        bare, bot = bare_server(env), bot_server(env)
        for server in (bare, bot):
            server.start(slack.command(server.port, "help")[1])
            server.wait_ready()
        shown: list[SlackEvent] = []

        def a_request_message() -> SlackEvent:
            if not shown:
                shown.append(pending.make(bot, 1)[0][1])
            return shown[0]

        bare_paths = {p.name: p for p in ack_paths(slack, None, a_request_message)}
        if not any(chosen(name, kinds) for name in bare_paths):
            raise RuntimeError(f"--kind {' '.join(kinds or [])} names none of the kinds: {', '.join(bare_paths)}")
        report.acks = {bare.name: {}, bot.name: {}}
        for path in ack_paths(slack, pending):
            if not chosen(path.name, kinds):
                continue
            # A command's baseline is the bare app's ack of a command; a click's, of the same click.
            samples = (AckSamples(bare, bare_paths[path.name if "click" in path.name else "`help`"], None),
                       AckSamples(bot, path, emulators))
            measure_acks(client, *samples, one, eight)
            measure_people(client, *samples, people)
            for sampled in samples:
                report.acks[sampled.server.name][path.name] = sampled.figures()
        if rates:
            from bench import open_loop

            mix = [p for p in ack_paths(slack, pending) if chosen(p.name, kinds)]
            bare_mix = [bare_paths[p.name if "click" in p.name else "`help`"] for p in mix]
            def settle(cursor: int, count: int) -> None:
                emulators.wait_events(cursor, count)
                time.sleep(0.05)

            report.open_loop = open_loop.measure(client, (bare, bare_mix), (bot, mix), settle, emulators.events,
                                                 rates)
        report.rss = {server.name: server.peak_rss_mb() for server in (bare, bot)}
    finally:
        for running in (bare, bot):
            if running:
                running.stop()
        stop_emulators(emulators)


def run_cold(report: Report, runs: int) -> None:
    emulators = start_emulators()
    try:
        slack = Slack(emulators.slack_server.url)
        env = emulators.bot_env(UNLIMITED_RATE)
        cold_start(lambda: bot_server(env, profile=False), slack)  # creates the database, as a deploy's migrate
        times: dict[str, list[float]] = {"bare": [], "bot": []}
        for _ in range(runs):  # alternately, so that both meet the same moments of a busy machine
            times["bare"].append(cold_start(lambda: bare_server(env), slack))
            times["bot"].append(cold_start(lambda: bot_server(env, profile=False), slack))
        report.cold = {name: statistics.median(values) for name, values in times.items()}
    finally:
        stop_emulators(emulators)


def run_trips(report: Report, client: LoadClient, latency: float, count: int) -> None:
    tls = ThrowawayTLS()
    emulators = start_emulators(latency, tls)
    try:
        slack = Slack(emulators.slack_server.url)
        server = bot_server(emulators.bot_env(UNLIMITED_RATE, tls))
        server.start(slack.command(server.port, "help")[1])
        try:
            report.trips, report.connections = measure_trips(client, server, emulators, slack, count,
                                                             PendingRequests(emulators, slack, client))
            report.latency_ms = latency * 1000
        finally:
            server.stop()
        from bench.floor_client import measured_floors

        # The bot stopped, a bare client makes the floors' calls over the same relays to the same emulators.
        floors = measured_floors(emulators, tls.ca_file, BOT_TOKEN, DEMO_TOKEN_ID, DEMO_TOKEN, CHANNEL, count)
        for trip in report.trips:
            if trip.floor_calls:
                trip.measured_floor_ms = floors[trip.floor_calls]
    finally:
        stop_emulators(emulators)
        tls.close()


def run_budget(report: Report, client: LoadClient, commands: int, rate: str) -> None:
    emulators = start_emulators()
    allowed, per = rate.split("/")
    window = {"s": 1.0, "min": 60.0, "h": 3600.0}[per]
    try:
        slack = Slack(emulators.slack_server.url)
        server = bot_server(emulators.bot_env(rate))
        server.start(slack.command(server.port, "help")[1])
        try:
            emulators.planetscale.rate_limit = (int(allowed), window)
            cursor = emulators.events()
            made = [slack.command(server.port, "list acme/app-db") for _ in range(commands)]
            started = time.perf_counter()
            answers = client.drive(server.port, [raw for _, raw in made], 50)
            acks = [a.elapsed_ms for a in answers]
            # Each command's answer; those told they are queued hear that first, which is not their answer.
            deadline = started + commands * window / int(allowed) * 2 + 60
            while len(answered := [e for e in emulators.events_since(cursor)
                                   if "Queued: PlanetScale" not in e.text
                                   and not e.text.startswith("How to use")]) < commands:  # help: the start's probe
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"only {len(answered)} of {commands} answers reached Slack")
                time.sleep(0.05)
            drained = time.perf_counter() - started
            queued = sum("Queued: PlanetScale" in e.text for e in emulators.events_since(cursor))
            failures = [e for e in answered if "rate limit" in e.text.lower() or "429" in e.text]
            report.budget = {"commands": commands, "rate": rate, "ack_p99": percentile(acks, 99),
                             "ack_max": max(acks), "answered": len(answered), "drained_s": drained,
                             "queued": queued, "rejected_429": emulators.planetscale.rate_limited,
                             "failures": len(failures)}
        finally:
            server.stop()
    finally:
        stop_emulators(emulators)


# --- the report ----------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def summary(report: Report) -> str:
    """The README's table: every figure beside the bare app or the floor, with its limit."""
    lines = ["| what | bare Bolt app or floor | backup-bot | × | limit | within |", "|---|---|---|---|---|---|"]
    bare, bot = report.acks.get("bare Bolt app (ack only)", {}), report.acks.get("backup-bot serve", {})
    for name, figures in bot.items():
        base = bare[name]
        limit = IN_ACK_LIMIT if figures.in_ack else AFTER_ACK_LIMIT
        if figures.person_p50 and base.person_p50:
            for label, mine, theirs in (("ack p50, one person at a time", figures.person_p50, base.person_p50),
                                        ("ack p90, one person at a time", figures.person_p90, base.person_p90)):
                ratio = mine / theirs
                lines.append(f"| {name}: {label} | {theirs:.2f} ms | {mine:.2f} ms | {ratio:.2f}× | {limit}× | "
                             f"{verdict(ratio <= limit)} |")
        for label, mine, theirs in (("ack p50, back to back, 1 connection (saturation)", figures.p50, base.p50),
                                    ("ack p99, back to back, 8 connections (saturation)", figures.p99_at_8,
                                     base.p99_at_8)):
            lines.append(f"| {name}: {label} | {theirs:.2f} ms | {mine:.2f} ms | {mine / theirs:.2f}× | — | — |")
    for f in report.open_loop:
        for label, mine, theirs in (("p50", f.bot_p50, f.bare_p50), ("p99", f.bot_p99, f.bare_p99)):
            ratio = mine / theirs
            lines.append(f"| acks at {f.rate:g}/s for {f.seconds:g} s (open loop), {label} | {theirs:.2f} ms | "
                         f"{mine:.2f} ms | {ratio:.2f}× | {AFTER_ACK_LIMIT}× | {verdict(ratio <= AFTER_ACK_LIMIT)} |")
    for trip in report.trips:
        if trip.floor_trips:
            network, measured, ok = judged_trip(trip, report.latency_ms)
            where = f"{trip.name}, {report.latency_ms:.0f} ms round trips over HTTPS, p50"
            lines.append(f"| {where} | measured floor {trip.measured_floor_ms:.1f} ms | {trip.answer_ms:.1f} ms | "
                         f"{measured} | {FLOOR_LIMIT}× | {verdict(ok)} |")
            lines.append(f"| {where}, beside the network floor | {trip.floor_trips * report.latency_ms:.0f} ms "
                         f"({trip.floor_trips:g} round trips) | {trip.answer_ms:.1f} ms | {network} | — | — |")
    if report.trips:
        calls = ", ".join(f"{t.name.split(' →')[0]} {t.planetscale_calls:.0f}" for t in report.trips)
        opened = ", ".join(f"{name} {count} over {connections}" for name, (count, connections)
                           in report.connections.items())
        lines.append(f"| PlanetScale requests each (one at a time) | — | {calls} | — | nothing read twice | — |")
        lines.append(f"| requests over new connections, while measured | — | {opened} | — | reused | — |")
    b = report.budget
    if b:
        ok = b["rejected_429"] == 0 and b["answered"] >= b["commands"]
        lines.append(f"| a burst of {b['commands']} `list`, PlanetScale at {b['rate']} | — | "
                     f"{b['rejected_429']} × 429, {b['answered']} answered, the last after {b['drained_s']:.0f} s "
                     f"| — | no 429 | {verdict(ok)} |")
    if report.cold:
        ratio = report.cold["bot"] / report.cold["bare"]
        lines.append(f"| cold start → first ack | {report.cold['bare']:.0f} ms | {report.cold['bot']:.0f} ms | "
                     f"{ratio:.2f}× | {COLD_LIMIT}× | {verdict(ratio <= COLD_LIMIT)} |")
    lines += extra_summary(report)
    return "\n".join(lines)


def extra_summary(report: Report) -> list[str]:
    from bench import history, sustained

    rows = sustained.summary_rows(report.sustained, report.soak)
    if report.history:
        rows += history.summary_rows(report.history)
    return rows


def extra_sections(report: Report, misses: list[str]) -> list[str]:
    from bench import history, sustained

    lines, missed = sustained.report_lines(report.sustained, report.soak)
    misses += missed
    if report.history:
        body, missed = history.render(report.history)
        lines += ["", "## History that grows (PostgreSQL)", "", *body]
        misses += missed
    if report.watch:
        body, missed = report.watch
        lines += ["", "## The watch over many databases", "", *body]
        misses += missed
    return lines


def write_readme_table(table: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        readme.write_text(before + start + "\n" + table + "\n" + end + rest.split(end, 1)[1])


def render(report: Report, args: argparse.Namespace) -> tuple[str, list[str]]:
    misses: list[str] = []
    floor_p50, floor_p99 = report.client_floor
    lines = ["## The load client", "",
             f"The client against a socket server that answers without parsing: {floor_p50:.2f} ms p50 one at a "
             f"time, {floor_p99:.2f} ms p99 at 8 at once."]
    if report.acks:
        lines += acks_section(report, args, misses)
    if report.open_loop:
        from bench import open_loop

        body, missed = open_loop.report_lines(report.open_loop, AFTER_ACK_LIMIT)
        lines += body
        misses += missed
    if report.trips:
        lines += trips_section(report, args, misses)
    if report.budget:
        lines += budget_section(report, misses)
    if report.cold:
        lines += cold_section(report, misses)
    lines += extra_sections(report, misses)
    load = os.getloadavg()
    lines += ["", f"Python {sys.version.split()[0]}, {os.cpu_count()} cores shared with the emulators, the load "
              f"client and whatever else runs: load average {load[0]:.2f} at the end of this run. Figures move by "
              "about ±20 % between runs on a busy machine; rerun `make bench` to check."]
    return "\n".join(lines), misses


def acks_section(report: Report, args: argparse.Namespace, misses: list[str]) -> list[str]:
    bare_name, bot_name = "bare Bolt app (ack only)", "backup-bot serve"
    bare, bot = report.acks[bare_name], report.acks[bot_name]
    slowest = max(bare.values(), key=lambda f: f.p50)
    lines = ["", f"The bare Bolt app, at its slowest kind: {slowest.p50:.2f} ms p50 back to back on 1 connection, "
             f"{max(f.p99_at_8 for f in bare.values()):.2f} ms p99 back to back on 8, {slowest.cpu_ack_ms:.2f} ms "
             "of CPU per ack."]
    if slowest.p50 >= 1.0:
        lines += ["", f"**VOID: the bare app measured {slowest.p50:.2f} ms p50 (≥ 1 ms): the machine is busy or "
                      "the client is slow, and the figures below measure that.**"]
        misses.append("bare app p50 ≥ 1 ms: void")
    lines += ["", "## Acks beside the bare app, one person at a time", "",
              "| request | bare p50 | bot p50 | × | bare p90 | bot p90 | × | limit | within |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, figures in bot.items():
        base = bare[name]
        limit = IN_ACK_LIMIT if figures.in_ack else AFTER_ACK_LIMIT
        if not (figures.person_p50 and base.person_p50):
            continue
        r50, r90 = figures.person_p50 / base.person_p50, figures.person_p90 / base.person_p90
        ok = r50 <= limit and r90 <= limit
        if not ok:
            misses.append(f"ack {name}, one person at a time: {r50:.2f}× / {r90:.2f}× > {limit}×")
        lines.append(f"| {name} | {base.person_p50:.2f} ms | {figures.person_p50:.2f} ms | {r50:.2f}× | "
                     f"{base.person_p90:.2f} ms | {figures.person_p90:.2f} ms | {r90:.2f}× | {limit}× | "
                     f"{verdict(ok)} |")
    lines += ["", f"{args.people} of each kind, one person at a time: each request sent only once the previous "
              "one's work is done (its answers in Slack, then 50 ms), on a connection opened before its clock "
              "starts, the bare app's and the bot's in turns. The 2× guard is judged here and on the open loop "
              "below, the sustained loads the guide asks for.",
              "", "## Acks back to back (saturation, no limit)", "",
              "| request | bare p50, back to back, 1 connection | bot | × | bare p99, back to back, 8 connections | "
              "bot | × | PlanetScale requests each | CPU each: ack thread, after the ack |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, figures in bot.items():
        base = bare[name]
        calls = "—" if figures.planetscale_calls is None else f"{figures.planetscale_calls:.2f}"
        lines.append(f"| {name} | {base.p50:.2f} ms | {figures.p50:.2f} ms | {figures.p50 / base.p50:.2f}× | "
                     f"{base.p99_at_8:.1f} ms | {figures.p99_at_8:.1f} ms | {figures.p99_at_8 / base.p99_at_8:.2f}× "
                     f"| {calls} | {figures.cpu_ack_ms:.2f} ms, {figures.cpu_after_ms:.2f} ms |")
    lines += ["", "These send each request as soon as the previous ack arrived, on 1 connection or 8, hundreds a "
              "second, far faster than the work after the ack (CPU each, after the ack) can be done, so that work "
              "piles up and competes with the later acks, while the bare app has no work after its ack: they "
              "measure saturation, not a sustained load, and carry no limit.",
              "", f"{args.one} requests back to back on 1 connection and {args.eight} on 8 (back to back, opened "
              f"before the clock starts) per kind, after a warm-up, in {ROUNDS} rounds that take turns with the bare "
              "app; p99 on 8 connections is the median of the rounds' p99s. Before the next measurement every "
              "answer has reached Slack. A click's baseline is the bare app's ack of the same click, message "
              "included; the others' is its ack of a command. CPU each is the bot's, per request: in the thread "
              "that acks (handing the work after the ack to the executor included) and in the others (that work)."]
    return lines


def judged_trip(trip: Trip, latency_ms: float) -> tuple[str, str, bool]:
    """A trip's ratio to the network floor (information), to the measured floor (judged), and whether it is
    within: a trip answered in the ack is judged on the ack being under one round trip."""
    if trip.floor_trips == 0:
        return f"ack {trip.answer_ms:.2f} ms", "—", trip.answer_ms < latency_ms
    network = f"{trip.answer_ms / (trip.floor_trips * latency_ms):.2f}×"
    if trip.measured_floor_ms <= 0:
        return network, "no measured floor", False
    ratio = trip.answer_ms / trip.measured_floor_ms
    return network, f"{ratio:.2f}×", ratio <= FLOOR_LIMIT


def trips_section(report: Report, args: argparse.Namespace, misses: list[str]) -> list[str]:
    lines = ["", f"## Round trips: {report.latency_ms:.0f} ms to Slack and to PlanetScale, over HTTPS", "",
             "| what a person waits for | network floor | round trips in the floor | measured floor | p50 | "
             "× network floor | × measured floor | limit | within | PlanetScale requests each | Slack calls each |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for trip in report.trips:
        network, measured, ok = judged_trip(trip, report.latency_ms)
        if not ok:
            misses.append(f"round trips {trip.name}: {measured if trip.floor_trips else network}")
        floor = f"{trip.measured_floor_ms:.1f} ms" if trip.floor_trips else "—"
        limit = f"{FLOOR_LIMIT}×" if trip.floor_trips else f"ack < {report.latency_ms:.0f} ms"
        lines.append(f"| {trip.name} | {trip.floor_trips * report.latency_ms:.0f} ms | {trip.floor_trips:g}: "
                     f"{trip.how} | {floor} | {trip.answer_ms:.1f} ms | {network} | {measured} | {limit} | "
                     f"{verdict(ok)} | {trip.planetscale_calls:.2f} | {trip.slack_calls:.2f} |")
    conn = "; ".join(f"{name}: {calls} requests over {opened} connection(s)"
                     for name, (calls, opened) in report.connections.items())
    lines += ["", f"{args.trips} of each, one at a time, each waiting for its result, after 3 that open the "
              "connections. The emulators sit behind a relay that delays every byte by half the round trip each "
              "way and a new connection's first bytes by one more round trip, and serve HTTPS with a throwaway "
              "certificate, so a new connection costs its TCP and TLS handshakes. The network floor counts the "
              "calls the bot must make one after another, the last one half (the result is in Slack when its "
              "request arrives), times the relay's round trip; the time from Slack to the bot is not counted, as "
              "the load client is beside the bot. The measured floor, on which the limit is judged, is the median "
              f"of {args.trips} trips of a bare client (httpx, HTTP/1.1, kept-alive connections warmed by 3 trips "
              "first, the same throwaway TLS) making exactly those calls one after another through the same relays "
              "to the same emulators with the demo's token, in this run once the bot has stopped, timed from its "
              "start to its last request's arrival at the emulator, as the bot's trip is: it adds to the network "
              "floor what the emulators take to answer each call, which no client avoids. "
              f"Connections opened while these were measured: {conn}."]
    return lines


def budget_section(report: Report, misses: list[str]) -> list[str]:
    b = report.budget
    ok = b["rejected_429"] == 0 and b["answered"] >= b["commands"] and b["failures"] == 0
    if not ok:
        misses.append(f"budget: {b['rejected_429']} 429s, {b['answered']} answered")
    return ["", "## PlanetScale's budget", "",
            f"A burst of {b['commands']} `list` commands, 50 at once, with the PlanetScale emulator enforcing "
            f"{b['rate']} per token (sliding window) and `BACKUP_BOT_PLANETSCALE_RATE={b['rate']}`: "
            f"{b['rejected_429']} answered 429, {b['answered']} of {b['commands']} answered, the last after "
            f"{b['drained_s']:.1f} s ({b.get('queued', 0)} told first that they were queued, and about how long); "
            f"acks p99 {b['ack_p99']:.1f} ms, slowest {b['ack_max']:.1f} ms. "
            f"Within: {verdict(ok)}."]


def cold_section(report: Report, misses: list[str]) -> list[str]:
    bare_name, bot_name = "bare Bolt app (ack only)", "backup-bot serve"
    cold_ratio = report.cold["bot"] / report.cold["bare"]
    if cold_ratio > COLD_LIMIT:
        misses.append(f"cold start {cold_ratio:.2f}×")
    return ["", "## Cold start and memory", "",
              "| app | spawn → first ack (median) | peak RSS after the acks |", "|---|---|---|",
              f"| {bare_name} | {report.cold['bare']:.0f} ms | {report.rss.get(bare_name, 0):.0f} MB |",
              f"| {bot_name} | {report.cold['bot']:.0f} ms | {report.rss.get(bot_name, 0):.0f} MB |",
              "", f"Bot / bare: {cold_ratio:.2f}× (limit {COLD_LIMIT}×): {verdict(cold_ratio <= COLD_LIMIT)}. "
              "Each started as many times, alternately, on a database already migrated (a restart); the bot's "
              "start includes `auth.test` and reading its access rules, and it checks its schema beside its first "
              "acks."]


ALL_PHASES = ("acks", "trips", "budget", "cold", "sustained", "history", "watch")


def history_phase(report: Report, args: argparse.Namespace) -> None:
    from bench.history import run as history_run

    if args.postgres:
        report.history = history_run(args.postgres, args.entries, 10_000, 1_000)
    else:
        print("history: skipped, it needs a PostgreSQL to seed (--postgres or BENCH_POSTGRES_URL)")


def watch_phase(report: Report, args: argparse.Namespace) -> None:
    from bench import watch_scale

    report.watch = watch_scale.report(args.databases, args.postgres)


def main() -> int:
    from bench.sustained import parse_duration, soak_figures, sustained_figures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--one", type=int, default=600,
                        help="acks back to back on 1 connection, per kind (saturation; default 600)")
    parser.add_argument("--eight", type=int, default=1200,
                        help="acks back to back on 8 connections, per kind (saturation; default 1200)")
    parser.add_argument("--people", type=int, default=100, help="acks one person at a time, per kind: each sent "
                        "once the previous one's work is done (default 100)")
    parser.add_argument("--trips", type=int, default=20, help="answers timed per kind under latency (default 20)")
    parser.add_argument("--latency-ms", type=float, default=40.0, help="round trip to the emulators (default 40)")
    parser.add_argument("--budget", type=int, default=1000, help="commands in the budget burst (default 1000)")
    parser.add_argument("--rate", default="600/min", help="PlanetScale's limit in the budget burst (600/min)")
    parser.add_argument("--only", choices=[*ALL_PHASES, "soak"], action="append", help="run only these")
    parser.add_argument("--mix-seconds", type=float, default=60.0, help="the sustained mix's length (60)")
    parser.add_argument("--mix-rate", type=float, default=20.0, help="its requests a second (20)")
    parser.add_argument("--soak", help="also the soak, this long (30m; 0 for none)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL"),
                        help="a PostgreSQL database the history phase empties and seeds (BENCH_POSTGRES_URL)")
    parser.add_argument("--databases", type=int, nargs="+", default=[10, 100, 500],
                        help="the watch's organizations, in databases of three policies (10 100 500)")
    parser.add_argument("--entries", type=int, default=1_000_000, help="audit entries of the full trail")
    parser.add_argument("--starts", type=int, default=5, help="cold starts of each app (default 5)")
    parser.add_argument("--kind", action="append", help="measure only acks whose name contains this, in any case "
                        "(help, list, update, click, refused)")
    parser.add_argument("--rates", default="20,50", help="the acks' open loop: requests a second, 20 s each "
                        "(default 20,50; empty for none)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args()
    phases = set(args.only or ALL_PHASES)
    soak = parse_duration(args.soak) if args.soak else 0.0
    if soak:
        phases.add("soak")
    if "soak" in phases and not soak:
        soak = 1800.0

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench.db").unlink(missing_ok=True)
    (RESULTS / "access.toml").write_text(ACCESS_RULES)
    report = Report()
    with LoadClient() as client:
        with FloorServer() as floor:
            raw = http_request(floor.port, "/", b"x" * 600, {"content-type": "text/plain"})
            client.drive(floor.port, [raw] * 200, 1)
            report.client_floor = (statistics.median(a.elapsed_ms for a in client.drive(floor.port, [raw] * 1000, 1)),
                                   percentile([a.elapsed_ms for a in client.drive(floor.port, [raw] * 1000, 8)], 99))
        steps: dict[str, Callable[[], None]] = {
            "acks": lambda: run_acks(report, client, args.one, args.eight, args.kind,
                                     tuple(float(r) for r in args.rates.split(",") if r), args.people),
            "trips": lambda: run_trips(report, client, args.latency_ms / 1000, args.trips),
            "budget": lambda: run_budget(report, client, args.budget, args.rate),
            "cold": lambda: run_cold(report, args.starts),
            "sustained": lambda: setattr(report, "sustained", sustained_figures(client, args.mix_seconds,
                                                                                 args.mix_rate)),
            "soak": lambda: setattr(report, "soak", soak_figures(client, soak, args.mix_rate)),
            "history": lambda: history_phase(report, args),
            "watch": lambda: watch_phase(report, args),
        }
        failed = []
        for phase, step in steps.items():
            if phase not in phases:
                continue
            try:  # one phase that breaks leaves the others' figures to print
                step()
            except Exception:
                traceback.print_exc()
                failed.append(phase)
    text, misses = render(report, args)
    misses += [f"{phase}: the phase failed (its traceback is printed above)" for phase in failed]
    verdict_text = ("All within the limits." if not misses else
                    "Outside the limits:\n\n" + "\n".join(f"- {m}" for m in misses))
    print(text + "\n\n" + verdict_text)
    if not args.no_write and phases >= set(ALL_PHASES) and not failed:
        benchmarks = ROOT / "docs" / "benchmarks.md"
        kept = benchmarks.read_text(encoding="utf-8").partition(BY_HAND)
        benchmarks.write_text(
            "# Benchmarks\n\nWritten by `make bench` (bench/run.py) from one run; rerun it to check.\n\n## Summary\n\n"
            + summary(report) + "\n\n" + verdict_text + "\n\n" + text + "\n" + (kept[1] + kept[2] if kept[1] else ""))
        load = os.getloadavg()[0]
        write_readme_table(summary(report) + "\n\n" + verdict_text + "\n\n" + f"One run of `make bench` on this "
                           f"project's machine: {os.cpu_count()} cores shared with the emulators, the load client and "
                           f"other engineers' work (load average {load:.2f} at its end), Python "
                           f"{sys.version.split()[0]}. Details and the bot's CPU per request in docs/benchmarks.md.")
        print("\nWritten: docs/benchmarks.md and the README's table.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
