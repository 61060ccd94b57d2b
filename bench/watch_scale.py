"""The watch over many databases: requests per cycle beside the floor, and how long a cycle takes at its share.

    .venv/bin/python -m bench.watch_scale [--databases 10 100 500] [--store sqlite|postgresql://…]

Each organization has N databases of three policies (PlanetScale's pages, 100 a page), a rule naming them by a
pattern, and a healthy backup history. Per N, three cycles: the first read (every policy's backups), then two
with nothing new (the policy lists alone), then one after a backup ran in every tenth database. The floor of a
cycle is one policy list per database plus the database list's pages; what a cycle may add is the backups due.
The share's waits pass on a fake clock (the cycle's time at the share is computed, not waited); the work itself
runs for real against the emulator over HTTP. Last, people's reads during a cycle beside the same reads idle,
with the watch at its share on the real clock.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.planetscale import PER_PAGE, PlanetScaleClient, RetryPolicy
from bot.adapters.rate_limit import RateLimiter
from bot.adapters.store import Store
from bot.adapters.watch_progress import WatchProgress
from bot.domain.access_rules import parse_rules
from bot.domain.watch import Watch
from bot.domain.watch_share import DEFAULT_WATCH_SHARE, WatchShare
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_demo import seed_backups
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer

RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
"""
BUDGET = 600  # PlanetScale's requests a minute per token
SHARE = int(BUDGET * DEFAULT_WATCH_SHARE)
PEOPLE_PACE = 0.2  # seconds between a person's reads: 300 a minute, under the 450 the watch's share leaves


def organization(databases: int) -> PlanetScaleState:
    state = PlanetScaleState()
    for n in range(databases):
        name = f"db-{n:04d}"
        state.add_database("acme", name)
        state.add_policy("acme", name, name=f"Production 12h {n}", frequency_value=12, frequency_unit="hour")
        state.add_policy("acme", name, name=f"Production weekly {n}", frequency_value=1, frequency_unit="week",
                         schedule_day=0, retention_value=4, retention_unit="week")
        state.add_policy("acme", name, name=f"Development daily {n}", target="development", frequency_value=1,
                         frequency_unit="day")
        seed_backups(state, "acme", name, runs=2)
    state.grant(DEMO_TOKEN_ID, DEMO_TOKEN, "acme")
    return state


@dataclass
class Cycle:
    requests: int
    floor: int
    backups_read: int  # policies whose backups were due
    seconds_at_share: float  # the share's waits (fake clock) plus the work (real)
    work_seconds: float


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def cycles(databases: int, store_url: str) -> list[Cycle]:
    state = organization(databases)
    server = BackgroundServer(PlanetScaleEmulator(state)).start()
    client = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, server.url + "/v1", retry=RetryPolicy(attempts=1))
    store = Store(store_url)
    store.migrate()
    fake = FakeTime()
    rules = parse_rules(RULES)
    watch = Watch(client, store, lambda: rules, 2.0, WatchShare(SHARE, clock=fake.clock, sleep=fake.sleep),
                  progress=WatchProgress(store))
    floor = databases + -(-databases // PER_PAGE)
    found = []
    try:
        for n in range(4):
            if n == 3:  # a backup ran in every tenth database
                for d in range(0, databases, 10):
                    policy = next(iter(state.policies[("acme", f"db-{d:04d}")]))
                    state.fail_backup("acme", f"db-{d:04d}", policy)
            state.clear_record()
            store.take_watch_lease("bench", 3600)
            began, waited = time.perf_counter(), fake.now
            result = watch.run_pass("bench", 3600)
            work = time.perf_counter() - began
            assert result.whole_cycle and len(result.read) == databases, result
            found.append(Cycle(len(state.calls()), floor, result.backups_read, fake.now - waited + work, work))
    finally:
        client.close()
        store.close()
        server.stop()
    return found


def people_during_a_cycle(databases: int, store_url: str, rounds: int = 6, reads: int = 12) -> tuple[float, float]:
    """The median time of a person's read (a policy list, as `show` makes) with the watch held back, and while it
    reads at its share on the real clock, in the same process and with one limiter for both; in turns, so that
    both meet the same moments of a busy machine. People read at 5 a second, inside the budget the watch leaves
    them (faster, they would wait for the budget with or without the watch)."""
    port = free_port()
    # PlanetScale in a process of its own, as it is: not sharing this one's interpreter with the watch.
    emulator = subprocess.Popen([sys.executable, "-m", "bench.watch_scale", "--serve", str(databases),
                                 "--port", str(port)])
    wait_for(port)
    limiter = RateLimiter(BUDGET, 60.0)
    client = PlanetScaleClient(DEMO_TOKEN_ID, DEMO_TOKEN, f"http://127.0.0.1:{port}/v1",
                               retry=RetryPolicy(attempts=1), limiter=limiter)
    store = Store(store_url)
    store.migrate()
    rules = parse_rules(RULES)
    held = threading.Event()
    watch = Watch(client, store, lambda: rules, 2.0,
                  WatchShare(SHARE, people_first=lambda: held.is_set() or client.people_first()),
                  progress=WatchProgress(store))

    def person(times: list[float]) -> None:
        for n in range(reads):
            began = time.perf_counter()
            client.list_policies("acme", f"db-{n % databases:04d}")
            times.append(time.perf_counter() - began)
            time.sleep(PEOPLE_PACE)

    idle: list[float] = []
    busy: list[float] = []
    try:
        store.take_watch_lease("bench", 3600)
        watching = threading.Thread(target=lambda: [watch.run_pass("bench", 3600) for _ in range(100)], daemon=True)
        watching.start()
        for _ in range(rounds):
            held.set()
            time.sleep(0.3)  # the database the watch is reading finishes
            person(idle)
            held.clear()
            time.sleep(0.3)
            person(busy)
        watch.share.stop()
        watching.join(timeout=30)
    finally:
        client.close()
        store.close()
        emulator.terminate()
        emulator.wait(timeout=10)
    return statistics.median(idle), statistics.median(busy)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the emulator did not start on port {port}")


def serve(databases: int, port: int) -> None:
    import uvicorn

    uvicorn.run(PlanetScaleEmulator(organization(databases)), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, lifespan="off")


def emptied(url: str) -> None:
    """A PostgreSQL database given to the bench starts empty for each size (its schema is dropped)."""
    import sqlalchemy as sa

    from bot.adapters.store import database_url

    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()


CYCLE_LIMIT = 1.5  # requests per cycle within this of the floor plus the backups due
PEOPLE_LIMIT = 1.2  # a person's read while the watch reads within this of the same read idle


def report(sizes: list[int], store_url: str | None) -> tuple[list[str], list[str]]:
    """The table of cycles and people's reads, and what is outside its limit."""
    lines = ["| databases | cycle | requests | floor | backups due | requests ÷ (floor + due) | at the share |",
             "|---|---|---|---|---|---|---|"]
    misses = []
    names = ["first read", "nothing new", "nothing new", "a tenth ran a backup"]
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            url = store_url or f"sqlite:///{Path(folder) / f'watch-{size}.db'}"
            if url.startswith("postgresql"):
                emptied(url)
            for name, cycle in zip(names, cycles(size, url), strict=True):
                ratio = cycle.requests / (cycle.floor + cycle.backups_read)
                if ratio > CYCLE_LIMIT:
                    misses.append(f"watch: {size} databases, {name}: {ratio:.2f}× the floor plus the backups due")
                lines.append(f"| {size} | {name} | {cycle.requests} | {cycle.floor} | {cycle.backups_read} | "
                             f"{ratio:.2f} | {cycle.seconds_at_share / 60:.1f} min |")
        idle, busy = people_during_a_cycle(100, f"sqlite:///{Path(folder) / 'people.db'}")
    if busy / idle > PEOPLE_LIMIT:
        misses.append(f"watch: a person's read during a pass {busy / idle:.2f}× the same read idle")
    lines += ["", f"A person's read (a policy list) with the watch held back: {idle * 1000:.1f} ms "
              f"(median of {6 * 12}, 5 a second); "
              f"while it reads 100 databases at its share: {busy * 1000:.1f} ms ({busy / idle:.2f}×, limit "
              f"{PEOPLE_LIMIT}×). Requests per cycle: limit {CYCLE_LIMIT}× the floor plus the backups due."]
    return lines, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--store", default=None, help="a database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the emulator's own process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    lines, misses = report(args.databases, args.store)
    print("\n".join([*lines, *misses]))


if __name__ == "__main__":
    main()
