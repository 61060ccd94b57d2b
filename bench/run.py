"""Speed and memory of `backup-bot serve` beside a bare Bolt app that only acks, same server, same run.

    make bench            # or: .venv/bin/python -m bench.run [--requests 1000] [--burst 500] [--clicks 100]

Both apps run as their own uvicorn processes on loopback; the Slack Web API and PlanetScale emulators run
in this process, so the time from a command to its result in the channel is measured where it lands.
Figures: cold start to the first ack, ack latency p50 one at a time, p99 at 8 at once, command-to-posted
result, a burst of commands at 50 at once (acks per second, p50/p99/max ack, time until every answer has
reached Slack), a burst of approval clicks, and the server's peak RSS. Results go to stdout and
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.emulators.planetscale import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleEmulator, PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackEvent, SlackState, demo_slack_state
from bot.emulators.slack_requests import block_actions_body, signed_headers, slash_command_body

ROOT = Path(__file__).resolve().parent.parent
SECRET = secrets.token_hex(16)
BOT_TOKEN = "xoxb-bench-" + secrets.token_hex(6)
THINK_TIME = 0.005
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Figures:
    name: str
    cold_start_ms: float
    p50_ms: float
    p99_ms: float
    p99_at_8_ms: float
    result_p50_ms: float | None
    result_p99_ms: float | None
    burst: Burst
    clicks: Burst
    peak_rss_mb: float


@dataclass
class Burst:
    count: int
    acks_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    drained_s: float | None  # until every answer (or every applied change) reached Slack
    patches: int | None = None


class Target:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], slack_url: str):
        self.name, self.argv, self.env, self.slack_url = name, argv, env, slack_url
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._n = 0

    def body(self, text: str) -> str:
        self._n += 1
        return slash_command_body(text, user_id="U0ALICE001", user_name="alice", channel_id="C0DBAOPS01",
                                  channel_name="db-ops", response_url=f"{self.slack_url}/response/{self._n}",
                                  trigger_id=f"{self._n}.bench")

    def post(self, client: httpx.Client, text: str) -> float:
        return self.post_body(client, self.body(text))

    def post_body(self, client: httpx.Client, body: str) -> float:
        headers = signed_headers(SECRET, body)
        started = time.perf_counter()
        answer = client.post(f"http://127.0.0.1:{self.port}/slack/events", content=body, headers=headers)  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"{self.name} answered {answer.status_code}: {answer.text[:200]}")
        return elapsed

    def start(self) -> float:
        """Spawn the process and return the time until its first successful ack, in ms."""
        started = time.perf_counter()
        self.log = ROOT / "bench" / "results" / f"{self.argv[2].replace('.', '_')}.log"
        self.process = subprocess.Popen(self.argv, env={**self.env, "PORT": str(self.port)}, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))
        deadline = started + 60
        with httpx.Client(timeout=2) as client:
            while True:
                if self.process.poll() is not None or time.perf_counter() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")
                try:
                    self.post(client, "help")
                    return (time.perf_counter() - started) * 1000
                except httpx.TransportError:
                    time.sleep(0.002)

    def peak_rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def wait_for(counter: Callable[[], int], before: int, started: float) -> float:
    deadline = started + 30
    while counter() == before:
        if time.perf_counter() > deadline:
            raise RuntimeError("no result reached Slack in 30 s")
        time.sleep(0.0002)
    return (time.perf_counter() - started) * 1000


def one_at_a_time(target: Target, text: str, count: int,
                  answered: Callable[[], int] | None) -> tuple[list[float], list[float]]:
    """Each command's ack, then (for the bot) its answer reaching Slack before the next command is sent."""
    acks, results = [], []
    with httpx.Client(timeout=10) as client:
        for _ in range(count):
            before = answered() if answered else 0
            started = time.perf_counter()
            acks.append(target.post(client, text))
            if answered:
                results.append(wait_for(answered, before, started))
            # Both apps get the same pause, so the previous command's tail (closing its connections) is
            # not counted against the next ack: one command at a time, as people type them.
            time.sleep(THINK_TIME)
    return acks, results


def concurrent(target: Target, text: str, count: int, workers: int = 8) -> list[float]:
    return fire(target, [(text, None)] * count, workers)[0]


def fire(target: Target, requests: list[tuple[str, str | None]], workers: int) -> tuple[list[float], float]:
    """Send (command text, or None with a ready body) from `workers` threads at once; latencies and wall time."""
    results: list[float] = []
    lock = threading.Lock()
    share = [requests[i::workers] for i in range(workers)]
    start = threading.Barrier(workers + 1)

    def worker(mine: list[tuple[str, str | None]]) -> None:
        with httpx.Client(timeout=30) as client:
            start.wait()
            times = [target.post(client, text) if body is None else target.post_body(client, body)
                     for text, body in mine]
        with lock:
            results.extend(times)

    threads = [threading.Thread(target=worker, args=(m,)) for m in share]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return results, time.perf_counter() - began


def summarise(latencies: list[float], wall: float, drained: float | None, patches: int | None = None) -> Burst:
    return Burst(len(latencies), len(latencies) / wall, statistics.median(latencies), percentile(latencies, 99),
                 max(latencies), drained, patches)


def results_in_channel(target: Target, count: int, posted: Callable[[], int]) -> list[float]:
    """Command → the change applied at PlanetScale and posted to the channel, one at a time."""
    times = []
    with httpx.Client(timeout=10) as client:
        for i in range(count):
            before = posted()
            started = time.perf_counter()
            target.post(client, f"update acme/app-db bp03devday retention={3 + i % 2 + 1}d")
            times.append(wait_for(posted, before, started))
    return times


def command_burst(target: Target, count: int, answered: Callable[[], int] | None) -> Burst:
    before = answered() if answered else 0
    latencies, wall = fire(target, [("list acme/app-db", None)] * count, workers=50)
    started = time.perf_counter() - wall
    drained = None
    if answered:
        deadline = time.perf_counter() + 120
        while answered() < before + count and time.perf_counter() < deadline:
            time.sleep(0.005)
        drained = time.perf_counter() - started
    return summarise(latencies, wall, drained)


def click_burst(target: Target, setup: ClickSetup | None, count: int) -> Burst:
    """Approve `count` pending requests at 8 at once; for the bot, until all are applied, and how many PATCHes."""
    if setup is None:  # the bare app only acks: the same clicks, on made-up requests
        bodies = [click_body(target, f"{i:08d}-bench", None) for i in range(count)]
        latencies, wall = fire(target, [("", b) for b in bodies], workers=8)
        return summarise(latencies, wall, None)
    messages = setup.make_requests(target, count)
    patches_before = setup.patches()
    bodies = [click_body(target, request_id, message) for request_id, message in messages]
    latencies, wall = fire(target, [("", b) for b in bodies], workers=8)
    started = time.perf_counter() - wall
    deadline = time.perf_counter() + 120
    while setup.applied() < count and time.perf_counter() < deadline:
        time.sleep(0.005)
    return summarise(latencies, wall, time.perf_counter() - started, setup.patches() - patches_before)


def click_body(target: Target, request_id: str, message: SlackEvent | None) -> str:
    target._n += 1
    shown = {"type": "message", "ts": message.ts, "blocks": message.blocks} if message else None
    return block_actions_body(
        user_id="U0CAROL001", user_name="carol", channel_id="C0DBAOPS01",
        response_url=f"{target.slack_url}/response/{target._n}", trigger_id=f"{target._n}.bench", message=shown,
        action={"type": "button", "action_id": "request_approve", "block_id": "b", "value": request_id})


class ClickSetup:
    """Pending requests to approve: one per policy, each on its own production policy of the emulator."""

    def __init__(self, slack_state: SlackState, planetscale: PlanetScaleState):
        self.slack, self.planetscale = slack_state, planetscale

    def patches(self) -> int:
        return len(self.planetscale.calls("PATCH"))

    def applied(self) -> int:
        with self.slack.lock:
            return sum(1 for e in self.slack.events if e.kind == "update" and "changed the backup" in e.text)

    def make_requests(self, target: Target, count: int) -> list[tuple[str, SlackEvent]]:
        for i in range(count):
            self.planetscale.add_policy("acme", "app-db", f"bpbench{i:04d}", name=f"Bench {i}", target="production")
        with httpx.Client(timeout=30) as client:
            for i in range(count):
                target.post(client, f"update acme/app-db bpbench{i:04d} retention=3d")
        deadline = time.perf_counter() + 120
        found: dict[str, SlackEvent] = {}
        while len(found) < count and time.perf_counter() < deadline:
            with self.slack.lock:
                for event in self.slack.events:
                    for block in event.blocks if event.kind == "message" else []:
                        for element in block.get("elements", []):
                            if element.get("action_id") == "request_approve":
                                found[element["value"]] = event
            time.sleep(0.01)
        return list(found.items())[:count]


def measure(target: Target, requests: int, answered: Callable[[], int] | None,
            posted: Callable[[], int] | None, text: str, burst: int, clicks: int,
            setup: ClickSetup | None) -> Figures:
    cold = target.start()
    try:
        one_at_a_time(target, text, 30, answered)  # warm-up
        one, _ = one_at_a_time(target, text, requests, answered)
        before = answered() if answered else 0
        eight = concurrent(target, text, requests)
        if answered:  # let the burst's answers drain before timing results one at a time
            deadline = time.perf_counter() + 60
            while answered() < before + len(eight) and time.perf_counter() < deadline:
                time.sleep(0.01)
        result = results_in_channel(target, max(20, requests // 10), posted) if posted else None
        bursts = command_burst(target, burst, answered)
        clicked = click_burst(target, setup, clicks)
        time.sleep(0.5)  # let the background work of the last requests finish before reading memory
        return Figures(target.name, cold, statistics.median(one), percentile(one, 99), percentile(eight, 99),
                       statistics.median(result) if result else None,
                       percentile(result, 99) if result else None, bursts, clicked, target.peak_rss_mb())
    finally:
        target.stop()


def burst_table(rows: list[Figures]) -> str:
    lines = ["| app | burst | acks/s | ack p50 | ack p99 | slowest ack | all answered in | PATCHes |",
             "|---|---|---|---|---|---|---|---|"]
    for f in rows:
        for label, b in ((f"{f.burst.count} commands, 50 at once", f.burst),
                         (f"{f.clicks.count} approval clicks, 8 at once", f.clicks)):
            drained = "—" if b.drained_s is None else f"{b.drained_s:.2f} s"
            lines.append(f"| {f.name} | {label} | {b.acks_per_second:.0f} | {b.p50_ms:.1f} ms | {b.p99_ms:.1f} ms "
                         f"| {b.max_ms:.1f} ms | {drained} | {'—' if b.patches is None else b.patches} |")
    return "\n".join(lines)


def table(rows: list[Figures]) -> str:
    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f} ms"

    lines = ["| app | cold start → first ack | ack p50 (1 at a time) | ack p99 (1 at a time) | ack p99 (8 at once) "
             "| command → result in channel p50 / p99 | peak RSS |", "|---|---|---|---|---|---|---|"]
    for f in rows:
        lines.append(f"| {f.name} | {f.cold_start_ms:.0f} ms | {ms(f.p50_ms)} | {ms(f.p99_ms)} | {ms(f.p99_at_8_ms)} "
                     f"| {ms(f.result_p50_ms)} / {ms(f.result_p99_ms)} | {f.peak_rss_mb:.0f} MB |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400, help="acks per measurement (default 400)")
    parser.add_argument("--text", default="list acme/app-db", help="the command measured for acks")
    parser.add_argument("--burst", type=int, default=500, help="commands in the burst (default 500)")
    parser.add_argument("--clicks", type=int, default=100, help="approval clicks in the burst (default 100)")
    args = parser.parse_args()

    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "bench.db").unlink(missing_ok=True)
    (results / "access.toml").write_text(ACCESS_RULES)
    slack_state = demo_slack_state(BOT_TOKEN)
    planetscale = PlanetScaleEmulator()
    with BackgroundServer(SlackEmulator(slack_state)) as slack, BackgroundServer(planetscale) as ps:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
        env.update({"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_API_URL": slack.url + "/api/", "PLANETSCALE_API_URL": ps.url + "/v1",
                    "PLANETSCALE_SERVICE_TOKEN_ID": DEMO_TOKEN_ID, "PLANETSCALE_SERVICE_TOKEN": DEMO_TOKEN,
                    "BACKUP_BOT_LOG_LEVEL": "WARNING", "BACKUP_BOT_DATABASE_URL": f"sqlite:///{results / 'bench.db'}",
                    "BACKUP_BOT_ACCESS_FILE": str(results / "access.toml")})
        python = sys.executable

        def counter(kind: str) -> Callable[[], int]:
            def count() -> int:
                with slack_state.lock:
                    return sum(1 for e in slack_state.events if e.kind == kind)
            return count

        rows = [
            measure(Target("bare Bolt app (ack only)", [python, "-m", "bench.bare_app"], env, slack.url),
                    args.requests, None, None, args.text, args.burst, args.clicks, None),
            measure(Target("backup-bot serve", [python, "-m", "bot", "serve", "--host", "127.0.0.1"], env,
                           slack.url), args.requests, counter("response"), counter("message"), args.text,
                    args.burst, args.clicks, ClickSetup(slack_state, planetscale.state)),
        ]
    bare, bot = rows
    report = "\n".join([
        "## Steady", "", table(rows), "",
        f"Ratios, bot / bare: ack p50 {bot.p50_ms / bare.p50_ms:.2f}×, ack p99 at 8 at once "
        f"{bot.p99_at_8_ms / bare.p99_at_8_ms:.2f}×, cold start {bot.cold_start_ms / bare.cold_start_ms:.2f}×.",
        f"{args.requests} signed `/backup-policy {args.text}` requests per ack figure. One at a time: the bot's "
        "answer reaches Slack before the next command is sent. 8 at once: back to back, the bot's PlanetScale "
        "reads and answers running beside the acks. Command → result: `update … retention=Nd` until "
        "chat.postMessage reaches the Slack emulator. Emulators and the load client share this machine's "
        f"cores with the server. Python {sys.version.split()[0]}, {os.cpu_count()} cores.",
        "", "## Bursts", "", burst_table(rows), "",
        f"Commands: {args.burst} signed `list` commands from 50 threads at once; \"all answered\" is until every "
        "answer reached the Slack emulator's response URL. Clicks: one Approve click on each of "
        f"{args.clicks} pending production requests, 8 at once; \"all answered\" is until every change was "
        "applied and its message updated, and PATCHes counts what reached PlanetScale (once each).",
    ])
    print(report)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\nWritten by `make bench` (bench/run.py); rerun it to check. Figures from one run on this "
        "project's 2-core machine.\n\n" + report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
