"""History that grows (issue 23, item 3): what people wait for on an empty trail and on a year of it.

    .venv/bin/python -m bench.history --postgres postgresql://postgres@127.0.0.1:5432/bench_history [--entries N]

The database named is emptied (its `public` schema dropped) and seeded. The bot runs in this process, through
Bolt's own pipeline, on PostgreSQL, against the bundled emulators; each figure is the time from Slack's request
to the end of the work it starts (every post to Slack done), the median of a few. Both trails are measured in
the same run, so their ratio is the figure. The floor is a trail holding just what the answers show (a page of
history, full pages of pending requests): what any trail costs, however short.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from slack_bolt import BoltRequest

from bot.adapters.store import Store, database_url
from bot.domain.access_file import StaticRules
from bot.domain.access_rules import parse_rules
from bot.emulators.planetscale import PlanetScaleEmulator
from bot.emulators.planetscale_demo import seed_demo
from bot.emulators.planetscale_state import DEMO_TOKEN, DEMO_TOKEN_ID, PlanetScaleState
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, demo_slack_state
from bot.emulators.slack_requests import (
    app_home_opened_body,
    block_actions_body,
    signed_headers,
    slash_command_body,
)
from bot.runtime.app import build_app, build_dependencies
from bot.runtime.executor import TrackedExecutor
from bot.runtime.settings import Settings

SECRET = "bench-history-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-bench-history"
CHANNEL = "C0DBAOPS01"
ALICE, CAROL = "U0ALICE001", "U0CAROL001"
RULES = """
[[rules]]
organizations = ["acme"]
databases = ["*"]
editors = ["@dba-team"]
approvers = ["@dba-leads"]
approvals = 1
"""
LIMIT = 2.0  # each within 2× of its time on an empty trail
DATABASES = 500
# The floor: a trail holding what the answers show and no more (a page of history, the pending pages full).
FLOOR = ((400, 40, 20),)  # a tenth of the entries are acme/app-db's: 40, its page of history
REPEATS = 7
ACTIONS = ("requested", "approved", "applied", "sending", "refused", "dry_run", "read_refused", "failed")


@dataclass
class Trail:
    entries: int
    requests: int
    pending: int
    times: dict[str, float] = field(default_factory=dict)  # what → median ms
    export: dict[str, float] = field(default_factory=dict)  # format → seconds, peak MB


class Harness:
    """The app on one PostgreSQL database, driven as Slack drives it."""

    def __init__(self, url: str):
        self.slack = demo_slack_state(BOT_TOKEN)
        self.planetscale = seed_demo(PlanetScaleState())
        self.slack_server = BackgroundServer(SlackEmulator(self.slack)).start()
        self.planetscale_server = BackgroundServer(PlanetScaleEmulator(self.planetscale)).start()
        self.store = Store(url)
        self.store.migrate()
        settings = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET,
                            slack_api_url=self.slack_server.url + "/api/", planetscale_token_id=DEMO_TOKEN_ID,
                            planetscale_token=DEMO_TOKEN, planetscale_api_url=self.planetscale_server.url + "/v1",
                            planetscale_rate="1000000/min", database_url=url, watch_every=None)
        self.executor = TrackedExecutor()
        self.deps = build_dependencies(settings, store=self.store, background=self.executor,
                                       rules=StaticRules(parse_rules(RULES)))
        self.app = build_app(settings, self.deps)
        self.n = 0

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.store.close()
        self.slack_server.stop()
        self.planetscale_server.stop()

    def send(self, body: str) -> float:
        """ms from the request to the end of its work."""
        started = time.perf_counter()
        response = self.app.dispatch(BoltRequest(body=body, headers=signed_headers(SECRET, body)))
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {response.body[:200]}")
        if not self.executor.wait_idle(timeout=120):
            raise RuntimeError("the work after the ack did not finish")
        return (time.perf_counter() - started) * 1000

    def command(self, text: str, user: str = ALICE) -> str:
        self.n += 1
        member = self.slack.users[user]
        return slash_command_body(text, user_id=user, user_name=member.name, channel_id=CHANNEL, channel_name="db-ops",
                                  response_url=f"{self.slack_server.url}/response/{self.n}",
                                  trigger_id=self.slack.new_trigger_id())

    def home(self, user: str = CAROL) -> str:
        self.n += 1
        return app_home_opened_body(user_id=user, event_id=f"Ev{self.n:08d}")

    def approve(self, request_id: str) -> str:
        self.n += 1
        return block_actions_body(
            user_id=CAROL, user_name="carol", channel_id=CHANNEL, trigger_id=self.slack.new_trigger_id(),
            response_url=f"{self.slack_server.url}/response/{self.n}", message=None,
            action={"type": "button", "action_id": "request_approve", "block_id": "b", "value": request_id})

    def ask(self, days: int) -> str:
        """A production change asked by alice: its request's ID, to approve."""
        cursor = len(self.slack.events)
        self.send(self.command(f'update acme/app-db "Production daily" retention={days}d'))
        for event in self.slack.events[cursor:]:
            for block in event.blocks if event.kind == "message" else []:
                for element in block.get("elements", []):
                    if element.get("action_id") == "request_approve":
                        return str(element["value"])
        raise RuntimeError("the request was not posted")

    def sweep(self) -> float:
        from bot.runtime.sweeper import Sweeper
        from handlers.posting import sweep_reporter

        sweeper = Sweeper(self.deps.changes, sweep_reporter(self.deps, self.app.client),
                          forget_deliveries=self.store.forget_deliveries)
        started = time.perf_counter()
        sweeper.sweep()
        self.executor.wait_idle(timeout=120)
        return (time.perf_counter() - started) * 1000


def reset(url: str) -> None:
    engine = sa.create_engine(database_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()


def seed(url: str, entries: int, requests: int, pending: int, template: dict[str, Any]) -> None:
    """A year of trail across DATABASES databases (a tenth of it on acme/app-db, none on its policies), and
    `requests` requests, `pending` of them still open (their reminders sent), the rest applied, approved and
    told in Slack."""
    engine = sa.create_engine(database_url(url))
    now = time.time()
    before = json.dumps(template["before"])
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_events (at, action, actor, organization, database, policy_id, policy_name, "
            "request_id, before, after, reason, detail, channel) "
            "SELECT to_char(to_timestamp(%(start)s + g * %(step)s) AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
            "(%(actions)s::text[])[1 + g %% 8], 'U0ALICE001', 'acme', "
            "CASE WHEN g %% 10 = 0 THEN 'app-db' ELSE 'db-' || lpad((g %% %(dbs)s)::text, 3, '0') END, "
            "'bpseed' || (g %% 1500), 'Seeded ' || (g %% 1500), md5(g::text)::uuid::text, "
            "%(before)s::json, %(before)s::json, 'seeded', 'seeded entry', 'C0DBAOPS01' "
            "FROM generate_series(1, %(n)s) g",
            {"start": now - 365 * 86400, "step": 365 * 86400 / max(entries, 1), "actions": list(ACTIONS),
             "dbs": DATABASES, "n": entries, "before": before})
        conn.exec_driver_sql(
            "INSERT INTO change_requests (id, state, organization, database, policy_id, policy_name, requester, "
            "channel, reason, before, changes, approvals_needed, approvers, risks, created_at, expires_at, "
            "updated_at, lease_until, reason_by_person, target, told) "
            "SELECT md5('r' || g)::uuid::text, CASE WHEN g <= %(pending)s THEN 'pending' ELSE 'applied' END, "
            "'acme', 'db-' || lpad((g %% %(dbs)s)::text, 3, '0'), 'bpseed' || (g %% 1500), "
            "'Seeded ' || (g %% 1500), 'U0ALICE001', 'C0DBAOPS01', 'seeded', %(before)s::json, %(changes)s::json, "
            "1, %(approvers)s::json, '[]'::json, "
            "CASE WHEN g <= %(pending)s THEN %(now)s - 20 * 3600 ELSE %(now)s - 365 * 86400 + g * 3000 END, "
            "CASE WHEN g <= %(pending)s THEN %(now)s + 4 * 3600 - 60 ELSE %(now)s - 364 * 86400 + g * 3000 END, "
            "%(now)s - 3600, 0, true, %(target)s, g > %(pending)s FROM generate_series(1, %(n)s) g",
            {"pending": pending, "dbs": DATABASES, "before": before, "changes": json.dumps(template["changes"]),
             "approvers": json.dumps(template["approvers"]), "now": now, "n": requests,
             "target": template["before"]["target"]})
        conn.exec_driver_sql(
            "INSERT INTO approvals (request_id, approver, at) SELECT id, 'U0CAROL001', created_at + 60 "
            "FROM change_requests WHERE state = 'applied'")
        conn.exec_driver_sql(  # the reminders already sent (50 %, and 1 h before expiry is not yet due)
            "INSERT INTO request_notices (request_id, notice, at) SELECT id, 'remind:50%%', %(now)s - 7200 "
            "FROM change_requests WHERE state = 'pending'", {"now": now})
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def measure(harness: Harness, repeats: int) -> dict[str, float]:
    runs: dict[str, list[float]] = {}

    def timed(name: str, run: Callable[[], float]) -> None:
        run()  # warm
        runs[name] = [run() for _ in range(repeats)]

    timed("`history` of a policy with no entries",
          lambda: harness.send(harness.command('history acme/app-db "Production weekly"')))
    timed("`history` of a database", lambda: harness.send(harness.command("history acme/app-db")))
    timed("`pending` (an approver's)", lambda: harness.send(harness.command("pending", user=CAROL)))
    timed("App Home (an approver's)", lambda: harness.send(harness.home()))
    asked = [harness.ask(3 + i) for i in range(repeats + 1)]
    timed("approval click (applies; two Homes)", lambda: harness.send(harness.approve(asked.pop())))
    timed("one sweep", harness.sweep)
    return {name: statistics.median(values) for name, values in runs.items()}


def export_figures(url: str, root: str | None = None) -> dict[str, float]:
    """`backup-bot audit export` of the whole trail to /dev/null, as its own process: seconds and peak RSS (MB),
    per format. `root`: another checkout's bot to run instead (a version to compare with)."""
    import os
    import resource
    import subprocess

    env = {**os.environ, "BACKUP_BOT_DATABASE_URL": url}
    if root:
        env["PYTHONPATH"] = root
    figures: dict[str, float] = {}
    for fmt in ("csv", "jsonl"):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "audit", "export", "--format", fmt, "--output", os.devnull],
                       env=env, cwd=root, check=True)
        figures[f"{fmt} s"] = time.perf_counter() - started
        # The largest of this process's children so far: each export's own, as the earlier ones are smaller.
        figures[f"{fmt} MB"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return figures


@contextmanager
def harness_on(url: str) -> Iterator[Harness]:
    harness = Harness(url)
    try:
        yield harness
    finally:
        harness.close()


def run(url: str, entries: int, requests: int, pending: int, repeats: int = REPEATS,
        export: bool = True) -> list[Trail]:
    trails = []
    template: dict[str, Any] = {}
    reset(url)
    with harness_on(url) as harness:  # a request as the bot stores it, to seed others like it
        harness.ask(9)
        with harness.store.engine.connect() as conn:
            raw = conn.exec_driver_sql("SELECT before, changes, approvers FROM change_requests LIMIT 1").one()
        template = {"before": raw[0], "changes": raw[1], "approvers": raw[2]}
    for size in (*FLOOR, (entries, requests, pending)):
        reset(url)
        with harness_on(url) as harness:
            seed(url, *size, template)
            trail = Trail(*size)
            trail.times = measure(harness, repeats)
        if size[0] == entries and export:
            trail.export = export_figures(url)
        trails.append(trail)
    return trails


def render(trails: list[Trail]) -> tuple[list[str], list[str]]:
    empty, full = trails
    misses: list[str] = []
    lines = [f"| what | floor: {empty.entries} entries, {empty.requests} requests ({empty.pending} pending) | "
             f"{full.entries:,} entries, {full.requests:,} requests ({full.pending:,} pending) | × | limit | within |",
             "|---|---|---|---|---|---|"]
    for name, floor in empty.times.items():
        mine = full.times[name]
        ratio = mine / floor
        ok = ratio <= LIMIT
        if not ok:
            misses.append(f"history: {name} {ratio:.2f}×")
        lines.append(f"| {name} | {floor:.1f} ms | {mine:.1f} ms | {ratio:.2f}× | {LIMIT}× | "
                     f"{'yes' if ok else '**NO**'} |")
    if full.export:
        e = full.export
        lines.append(f"| `audit export` of {full.entries:,} entries | — | CSV {e['csv s']:.1f} s (peak RSS "
                     f"{e['csv MB']:.0f} MB), JSON lines {e['jsonl s']:.1f} s (peak RSS {e['jsonl MB']:.0f} MB) "
                     "| — | streamed | — |")
    return lines, misses


def summary_rows(trails: list[Trail]) -> list[str]:
    empty, full = trails
    worst = max(empty.times, key=lambda name: full.times[name] / empty.times[name])
    ratio = full.times[worst] / empty.times[worst]
    rows = [f"| history at {full.entries:,} entries and {full.requests:,} requests ({full.pending:,} pending), the "
            f"slowest beside its empty trail: {worst} | {empty.times[worst]:.1f} ms | {full.times[worst]:.1f} ms | "
            f"{ratio:.2f}× | {LIMIT}× | {'yes' if ratio <= LIMIT else '**NO**'} |"]
    if full.export:
        rows.append(f"| `audit export` of {full.entries:,} entries (CSV) | — | {full.export['csv s']:.1f} s, peak "
                    f"{full.export['csv MB']:.0f} MB RSS | — | streamed | — |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres", required=True, help="a PostgreSQL database to empty and seed")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--pending", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args()
    trails = run(args.postgres, args.entries, args.requests, args.pending, args.repeats, not args.no_export)
    lines, misses = render(trails)
    print("\n".join(lines))
    print("\n".join(misses) or "All within the limits.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
