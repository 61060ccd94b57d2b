"""A steady mix for a while (issue 21 item 7, issue 23 item 5): commands and clicks at a fixed rate, each with its
work after the ack, against `backup-bot serve` in its own process.

    .venv/bin/python -m bench.run --only sustained            # 20 a second for 60 s
    .venv/bin/python -m bench.run --only soak --soak 30m      # the soak: the same mix, the watch every 30 s

A quarter each: `list`, an `update` applied at once (development), an `update` that asks for approval
(production, on a policy of its own), and the approval click of an earlier one. Every ack is timed; every
answer must reach Slack; the bot's memory and open files are sampled every few seconds, and its log is read
for errors.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import LoadClient
from bench.run import (
    CHANNEL,
    RESULTS,
    UNLIMITED_RATE,
    Emulators,
    Server,
    Slack,
    bot_server,
    percentile,
    start_emulators,
    stop_emulators,
)

ACK_LIMIT_MS = 300.0
FLAT = 1.10  # memory and open files after warm-up: the last part of the run within 10 % of the first
WARM_UP = 0.2  # the first fifth of a run is its warm-up
SAMPLE_EVERY = 5.0


@dataclass
class Mix:
    seconds: float
    rate: float
    watch_every: float | None
    sent: int = 0
    acks: list[float] = field(default_factory=list)
    failed: int = 0  # answered other than 200
    expected: int = 0  # answers that must reach Slack
    answered: int = 0
    behind_s: float = 0.0  # the most the sender fell behind its schedule
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (s, RSS MB, open files)
    errors: list[str] = field(default_factory=list)
    watch_passes: int = 0
    pending_left: int = 0

    def ok(self) -> bool:
        return (self.failed == 0 and self.answered >= self.expected and not self.errors
                and max(self.acks, default=0) < ACK_LIMIT_MS and self.memory_flat() and self.files_flat())

    def _halves(self, index: int) -> tuple[float, float]:
        kept = [s for s in self.samples if s[0] >= self.seconds * WARM_UP]
        if len(kept) < 4:
            return float("nan"), float("nan")
        third = max(1, len(kept) // 3)
        return (statistics.mean(float(s[index]) for s in kept[:third]),
                statistics.mean(float(s[index]) for s in kept[-third:]))

    def memory_flat(self) -> bool:
        first, last = self._halves(1)
        return last <= first * FLAT

    def files_flat(self) -> bool:
        first, last = self._halves(2)
        return last <= first * FLAT + 2


def rss_and_files(pid: int) -> tuple[float, int]:
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def run_mix(client: LoadClient, seconds: float, rate: float = 20.0, watch_every: float | None = None) -> Mix:
    mix = Mix(seconds, rate, watch_every)
    emulators = start_emulators()
    try:
        slack = Slack(emulators.slack_server.url)
        env = emulators.bot_env(UNLIMITED_RATE)
        env["BACKUP_BOT_LOG_LEVEL"] = "INFO"  # its errors and warnings, and the watch's passes
        if watch_every:
            env["BACKUP_BOT_WATCH_EVERY"] = f"{int(watch_every)}s"
        # A database and a log of its own: another run of the bench beside it empties bench.db.
        name = "soak" if watch_every else "sustained"
        (RESULTS / f"{name}.db").unlink(missing_ok=True)
        env["BACKUP_BOT_DATABASE_URL"] = f"sqlite:///{RESULTS / f'{name}.db'}"
        server = bot_server(env, "backup-bot serve (a steady mix)", profile=False)
        server.log = RESULTS / f"{name}.log"
        log_start = server.log.stat().st_size if server.log.exists() else 0
        server.start(slack.command(server.port, "help")[1])
        server.wait_ready()
        try:
            drive_mix(mix, client, server, emulators, slack)
        finally:
            server.stop()
        log = server.log.read_bytes()[log_start:].decode("utf-8", "replace").splitlines()
        mix.errors = [line[:300] for line in log if '"level": "ERROR"' in line or "Traceback" in line
                      or line.startswith("ERROR")]
        mix.watch_passes = sum("watch pass" in line for line in log)
    finally:
        stop_emulators(emulators)
    return mix


def drive_mix(mix: Mix, client: LoadClient, server: Server, emulators: Emulators, slack: Slack) -> None:
    assert server.process is not None
    state = emulators.planetscale
    to_approve: deque[str] = deque()
    message_of: dict[str, str] = {}  # request → the ts of its message in the channel
    sent = Sent()
    cursor = emulators.events()
    started = time.perf_counter()
    next_sample = 0.0
    n = 0
    while True:
        now = time.perf_counter() - started
        if now >= mix.seconds:
            break
        if now >= next_sample:
            mix.samples.append((now, *rss_and_files(server.process.pid)))
            next_sample += SAMPLE_EVERY
        due = n / mix.rate
        if due > now:
            time.sleep(due - now)
        mix.behind_s = max(mix.behind_s, now - due)
        # The requests asked so far, to approve: found in what reached the channel.
        events = emulators.events_since(cursor)
        cursor += len(events)
        for event in events:
            for block in event.blocks if event.kind == "message" else []:
                for element in block.get("elements", []):
                    value = element.get("value")
                    if element.get("action_id") == "request_approve" and value not in message_of:
                        message_of[value] = str(event.ts)
                        to_approve.append(value)
        kind = n % 4
        if kind == 0:
            key, raw = slack.command(server.port, "list acme/app-db")
            sent.lists.append(key)
        elif kind == 1:
            raw = slack.command(server.port, f"update acme/app-db bp03devday retention={4 + n % 60}d")[1]
            sent.updates += 1
        elif kind == 2:
            database = f"mix-{n // 12:05d}"
            if ("acme", database) not in state.databases:
                state.add_database("acme", database)
            state.add_policy("acme", database, f"bpmix{n:06d}", name=f"Mix {n}", target="production")
            raw = slack.command(server.port, f"update acme/{database} bpmix{n:06d} retention=3d")[1]
            sent.updates += 1
        elif to_approve:
            request = to_approve.popleft()
            raw = slack.click(server.port, request, None)[1]
            sent.clicks.append(message_of[request])
        else:  # nothing asked yet to approve: a `list` instead
            key, raw = slack.command(server.port, "list acme/app-db")
            sent.lists.append(key)
        [answer] = client.drive(server.port, [raw], 1)
        mix.sent += 1
        mix.acks.append(answer.elapsed_ms)
        if answer.status != 200:
            mix.failed += 1
        n += 1
    mix.pending_left = len(to_approve)
    mix.expected = mix.sent
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        mix.answered = sent.answered(emulators)
        if mix.answered >= mix.expected:
            break
        time.sleep(0.5)
    mix.samples.append((time.perf_counter() - started, *rss_and_files(server.process.pid)))


@dataclass
class Sent:
    lists: list[str] = field(default_factory=list)  # their response URLs' keys
    updates: int = 0
    clicks: list[str] = field(default_factory=list)  # the ts of the message each click was on

    def answered(self, emulators: Emulators) -> int:
        """Each `list` answered at its response URL, each `update` with its message in the channel (the result,
        or the request to approve), each click with its request's message updated."""
        with emulators.slack.lock:
            events = list(emulators.slack.events)
        responded = {e.response_key for e in events if e.kind == "response"}
        posted = sum(e.kind == "message" and e.channel == CHANNEL and e.thread_ts is None for e in events)
        updated = {e.ts for e in events if e.kind == "update"}
        return (sum(key in responded for key in self.lists) + min(posted, self.updates)
                + sum(ts in updated for ts in self.clicks))


def render(mix: Mix, name: str) -> tuple[list[str], list[str]]:
    misses = []
    if not mix.ok():
        misses.append(f"{name}: not within (acks max {max(mix.acks, default=0):.0f} ms, {mix.answered} of "
                      f"{mix.expected} answered, {len(mix.errors)} errors, memory flat {mix.memory_flat()}, "
                      f"files flat {mix.files_flat()})")
    first_mb, last_mb = mix._halves(1)
    first_fd, last_fd = mix._halves(2)
    curve = ", ".join(f"{s:.0f} s {mb:.0f} MB/{fd}" for s, mb, fd in mix.samples[:: max(1, len(mix.samples) // 12)])
    watch = f", the watch every {mix.watch_every:.0f} s ({mix.watch_passes} passes logged)" if mix.watch_every \
        else ""
    lines = [
        f"{mix.sent} requests in {mix.seconds:.0f} s ({mix.sent / mix.seconds:.1f} a second: `list`, `update` "
        f"applied at once, `update` asking approval, approval click, a quarter each){watch}. The sender fell "
        f"behind its schedule by at most {mix.behind_s * 1000:.0f} ms.",
        "",
        "| figure | value | limit | within |", "|---|---|---|---|",
        f"| acks p50 / p99 / slowest | {statistics.median(mix.acks):.1f} / {percentile(mix.acks, 99):.1f} / "
        f"{max(mix.acks):.1f} ms | every ack < {ACK_LIMIT_MS:.0f} ms | "
        f"{'yes' if max(mix.acks) < ACK_LIMIT_MS else '**NO**'} |",
        f"| answered in Slack | {mix.answered} of {mix.expected} ({mix.failed} acks not 200) | all | "
        f"{'yes' if mix.answered >= mix.expected and not mix.failed else '**NO**'} |",
        f"| memory (RSS) after warm-up, first third → last third | {first_mb:.0f} → {last_mb:.0f} MB | "
        f"≤ {FLAT}× | {'yes' if mix.memory_flat() else '**NO**'} |",
        f"| open files and sockets, first third → last third | {first_fd:.0f} → {last_fd:.0f} | flat | "
        f"{'yes' if mix.files_flat() else '**NO**'} |",
        f"| errors in the bot's log | {len(mix.errors)} | none | {'yes' if not mix.errors else '**NO**'} |",
        "", f"Samples (time, RSS/open files): {curve}."]
    if mix.errors:
        lines += ["", "First errors:", "", *[f"    {e}" for e in mix.errors[:5]]]
    return lines, misses


def parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def sustained_figures(client: LoadClient, seconds: float, rate: float) -> Mix:
    return run_mix(client, seconds, rate)


def soak_figures(client: LoadClient, seconds: float, rate: float) -> Mix:
    return run_mix(client, seconds, rate, watch_every=30.0)


def report_lines(mix: Mix | None, soak: Mix | None) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    misses: list[str] = []
    for title, found in (("A sustained mix", mix), ("The soak", soak)):
        if found is None:
            continue
        body, missed = render(found, title)
        lines += ["", f"## {title}", "", *body]
        misses += missed
    return lines, misses


def summary_rows(mix: Mix | None, soak: Mix | None) -> list[str]:
    rows: list[Any] = []
    for title, found in (("sustained mix", mix), ("soak", soak)):
        if found is None:
            continue
        rows.append(f"| {title}: {found.sent} requests over {found.seconds / 60:.0f} min at "
                    f"{found.sent / found.seconds:.0f}/s | — | slowest ack {max(found.acks):.0f} ms, "
                    f"{found.answered} of {found.expected} answered, RSS {found._halves(1)[0]:.0f} → "
                    f"{found._halves(1)[1]:.0f} MB, {len(found.errors)} errors | — | acks < 300 ms, none lost, "
                    f"flat | {'yes' if found.ok() else '**NO**'} |")
    return rows
