"""Speed and memory of `backup-bot serve` beside a bare Bolt app that only acks, same server, same run.

    make bench            # or: .venv/bin/python -m bench.run [--requests 400]

Both apps run as their own uvicorn processes on loopback; the Slack Web API and PlanetScale emulators run
in this process, so the time from a command to its result in the channel is measured where it lands.
Figures: cold start to the first ack, ack latency p50 one at a time, p99 at 8 at once, command-to-posted
result, and the server's peak RSS. Results go to stdout and bench/results/latest.md.
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

from bot.emulators.planetscale import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleEmulator
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, demo_slack_state
from bot.emulators.slack_requests import signed_headers, slash_command_body

ROOT = Path(__file__).resolve().parent.parent
SECRET = secrets.token_hex(16)
BOT_TOKEN = "xoxb-bench-" + secrets.token_hex(6)
THINK_TIME = 0.005


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
    peak_rss_mb: float


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
        body = self.body(text)
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
    results: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=10) as client:
            mine = [target.post(client, text) for _ in range(count // workers)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


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


def measure(target: Target, requests: int, answered: Callable[[], int] | None,
            posted: Callable[[], int] | None, text: str) -> Figures:
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
        time.sleep(0.5)  # let the lazy work of the last requests finish before reading memory
        return Figures(target.name, cold, statistics.median(one), percentile(one, 99), percentile(eight, 99),
                       statistics.median(result) if result else None,
                       percentile(result, 99) if result else None, target.peak_rss_mb())
    finally:
        target.stop()


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
    args = parser.parse_args()

    slack_state = demo_slack_state(BOT_TOKEN)
    with BackgroundServer(SlackEmulator(slack_state)) as slack, BackgroundServer(PlanetScaleEmulator()) as ps:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLANETSCALE_", "BACKUP_BOT_"))}
        env.update({"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_API_URL": slack.url + "/api/", "PLANETSCALE_API_URL": ps.url + "/v1",
                    "PLANETSCALE_SERVICE_TOKEN_ID": DEMO_TOKEN_ID, "PLANETSCALE_SERVICE_TOKEN": DEMO_TOKEN,
                    "BACKUP_BOT_LOG_LEVEL": "WARNING", "BACKUP_BOT_DATABASE_URL": "sqlite:///" +
                    str(ROOT / "bench" / "results" / "bench.db")})
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        python = sys.executable

        def counter(kind: str) -> Callable[[], int]:
            def count() -> int:
                with slack_state.lock:
                    return sum(1 for e in slack_state.events if e.kind == kind)
            return count

        rows = [
            measure(Target("bare Bolt app (ack only)", [python, "-m", "bench.bare_app"], env, slack.url),
                    args.requests, None, None, args.text),
            measure(Target("backup-bot serve", [python, "-m", "bot", "serve", "--host", "127.0.0.1"], env,
                           slack.url), args.requests, counter("response"), counter("message"), args.text),
        ]
    bare, bot = rows
    report = "\n".join([
        table(rows), "",
        f"Ratios, bot / bare: ack p50 {bot.p50_ms / bare.p50_ms:.2f}×, ack p99 at 8 at once "
        f"{bot.p99_at_8_ms / bare.p99_at_8_ms:.2f}×, cold start {bot.cold_start_ms / bare.cold_start_ms:.2f}×.",
        f"{args.requests} signed `/backup-policy {args.text}` requests per ack figure. One at a time: the bot's "
        "answer reaches Slack before the next command is sent. 8 at once: back to back, the bot's PlanetScale "
        "reads and answers running beside the acks. Command → result: `update … retention=Nd` until "
        "chat.postMessage reaches the Slack emulator. Emulators and the load client share this machine's "
        f"cores with the server. Python {sys.version.split()[0]}, {os.cpu_count()} cores.",
    ])
    print(report)
    (ROOT / "bench" / "results" / "latest.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
