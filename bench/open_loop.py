"""The acks phase's open loop: a steady rate of the acks phase's mix of kinds, each request sent when due whatever
the answers before it (as Slack sends people's requests), to the bare app and to the bot in turns.

The closed loop (each request sent as soon as the previous ack arrived) offers the bot requests as fast as it acks
them, far faster than their work can be done; a steady rate, as a workspace sends them, is the other half of the
picture: the work keeps up, and the acks meet only what the rate brings.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Requests a second, and how long each is sent for.
RATES = (20.0, 50.0)
SECONDS = 20.0


@dataclass
class OpenLoopFigures:
    rate: float
    seconds: float
    bare_p50: float
    bare_p99: float
    bot_p50: float
    bot_p99: float


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def mixed(kinds: Sequence[Any], server: Any, count: int) -> tuple[list[bytes], int]:
    """`count` requests, the kinds in turn; and the answers they leave in Slack."""
    each = -(-count // len(kinds))
    made = [[raw for _, raw in kind.make(server, each)] for kind in kinds]
    requests = [made[i % len(kinds)][i // len(kinds)] for i in range(count)]
    answers = sum(kinds[i % len(kinds)].answers_each for i in range(count))
    return requests, answers


def measure(client: Any, bare: tuple[Any, Sequence[Any]], bot: tuple[Any, Sequence[Any]],
            settle: Callable[[int, int], None], events: Callable[[], int],
            rates: Sequence[float] = RATES, seconds: float = SECONDS) -> list[OpenLoopFigures]:
    """For each rate, the bare app then the bot, each `seconds` of the mix; before the next, every answer of the
    bot's work has reached Slack (`settle(cursor, count)`)."""
    figures = []
    for rate in rates:
        count = int(rate * seconds)
        acks: dict[str, list[float]] = {}
        for name, (server, kinds) in (("bare", bare), ("bot", bot)):
            requests, answers = mixed(kinds, server, count)
            cursor = events()
            got = client.drive(server.port, requests, 0, rate)
            bad = [a for a in got if a.status != 200]
            if bad or len(got) != count:
                raise RuntimeError(f"{server.name}, open loop at {rate:g}/s: {len(bad)} failed, e.g. {bad[:1]}")
            if name == "bot":
                settle(cursor, answers)
            acks[name] = [a.elapsed_ms for a in got]
        figures.append(OpenLoopFigures(rate, seconds, statistics.median(acks["bare"]), percentile(acks["bare"], 99),
                                       statistics.median(acks["bot"]), percentile(acks["bot"], 99)))
    return figures


def report_lines(figures: Sequence[OpenLoopFigures], limit: float) -> tuple[list[str], list[str]]:
    if not figures:
        return [], []
    misses = []
    lines = ["", "## Acks at a steady rate (open loop)", "",
             "| rate | bare p50 | bot p50 | × | bare p99 | bot p99 | × | limit | within |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in figures:
        r50, r99 = f.bot_p50 / f.bare_p50, f.bot_p99 / f.bare_p99
        ok = r50 <= limit and r99 <= limit
        if not ok:
            misses.append(f"open loop at {f.rate:g}/s: {r50:.2f}× / {r99:.2f}× > {limit}×")
        lines.append(f"| {f.rate:g}/s for {f.seconds:g} s | {f.bare_p50:.2f} ms | {f.bot_p50:.2f} ms | {r50:.2f}× | "
                     f"{f.bare_p99:.1f} ms | {f.bot_p99:.1f} ms | {r99:.2f}× | {limit}× | "
                     f"{'yes' if ok else '**NO**'} |")
    lines += ["", "The acks phase's kinds in turn, each request sent when due (i / rate seconds from the start) "
              "on the first free of 64 kept-alive connections, whatever the answers before it; an ack's time runs "
              "from when its request was due. The bare app, then the bot; before the next rate, every answer of "
              "the bot's work has reached Slack."]
    return lines, misses
