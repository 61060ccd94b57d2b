"""The bench's report, rendered from made-up figures: acks are judged one person at a time and on the open loop,
the back-to-back rows are saturation figures without a limit, and round trips are judged on the measured floor."""

from __future__ import annotations

import argparse

from bench.open_loop import OpenLoopFigures
from bench.run import AckFigures, Report, Trip, render, summary

BARE, BOT = "bare Bolt app (ack only)", "backup-bot serve"
LIST = "`list acme/app-db`"
ARGS = argparse.Namespace(one=600, eight=1200, people=100, trips=20)


def made_up_report(person_bot_p50: float = 1.5, trip_ms: float = 90.0) -> Report:
    report = Report()
    # Saturation far past 2× (5× and 6×), one person at a time within or not as asked.
    report.acks = {
        BARE: {LIST: AckFigures(False, p50=0.4, p99_at_8=3.0, person_p50=1.0, person_p90=1.2)},
        BOT: {LIST: AckFigures(False, p50=2.0, p99_at_8=18.0, planetscale_calls=1.0, cpu_ack_ms=0.4,
                               cpu_after_ms=4.0, person_p50=person_bot_p50, person_p90=1.8)},
    }
    report.open_loop = [OpenLoopFigures(20.0, 20.0, bare_p50=2.0, bare_p99=4.0, bot_p50=3.0, bot_p99=9.0)]
    # 60 ms of network floor: 1.5× it, and 1.125× the measured floor of 80 ms.
    report.trips = [Trip("`list` → answer", 1.5, "PlanetScale list; the answer's post arrives", answer_ms=trip_ms,
                         planetscale_calls=1.0, slack_calls=1.0, floor_calls="list", measured_floor_ms=80.0)]
    report.latency_ms = 40.0
    report.connections = {"Slack": (23, 1), "PlanetScale": (23, 1)}
    return report


def rows(text: str, starting: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith(f"| {starting}")]


def test_the_summary_judges_one_person_at_a_time_and_the_open_loop_with_limits() -> None:
    table = summary(made_up_report())

    [p50, p90] = rows(table, f"{LIST}: ack p")[:2]
    assert p50[0] == f"{LIST}: ack p50, one person at a time" and p50[1:] == ["1.00 ms", "1.50 ms", "1.50×", "2.0×",
                                                                              "yes"]
    assert p90[0] == f"{LIST}: ack p90, one person at a time" and p90[3:] == ["1.50×", "2.0×", "yes"]
    open_p50, open_p99 = rows(table, "acks at 20/s for 20 s (open loop)")
    assert open_p50[3:] == ["1.50×", "2.0×", "yes"]
    assert open_p99[3:] == ["2.25×", "2.0×", "**NO**"]


def test_the_saturation_rows_carry_no_limit_and_no_verdict() -> None:
    table = summary(made_up_report())

    saturation = [row for row in rows(table, LIST) if "saturation" in row[0]]
    assert [row[0] for row in saturation] == [f"{LIST}: ack p50, back to back, 1 connection (saturation)",
                                              f"{LIST}: ack p99, back to back, 8 connections (saturation)"]
    assert [row[3:] for row in saturation] == [["5.00×", "—", "—"], ["6.00×", "—", "—"]]

    text, misses = render(made_up_report(), ARGS)
    [back_to_back] = rows(text.split("## Acks back to back (saturation, no limit)")[1], LIST)
    assert back_to_back == [LIST, "0.40 ms", "2.00 ms", "5.00×", "3.0 ms", "18.0 ms", "6.00×", "1.00",
                            "0.40 ms, 4.00 ms"]
    assert "carry no limit" in text
    assert not any("back to back" in miss or "6.00×" in miss for miss in misses)


def test_a_slow_ack_one_person_at_a_time_is_outside_the_limit() -> None:
    text, misses = render(made_up_report(person_bot_p50=2.5), ARGS)

    judged = rows(text.split("## Acks beside the bare app, one person at a time")[1], LIST)[0]
    assert judged[3] == "2.50×" and judged[7:] == ["2.0×", "**NO**"]
    assert f"ack {LIST}, one person at a time: 2.50× / 1.50× > 2.0×" in misses


def test_round_trips_are_judged_on_the_measured_floor_and_shown_beside_the_network_floor() -> None:
    report = made_up_report()
    text, misses = render(report, ARGS)

    [trip] = rows(text, "`list` → answer")
    assert trip[1] == "60 ms" and trip[3:9] == ["80.0 ms", "90.0 ms", "1.50×", "1.12×", "1.2×", "yes"]
    assert "The measured floor, on which the limit is judged" in text
    assert not any("round trips" in miss for miss in misses)
    judged, beside = rows(summary(report), "`list` → answer")
    assert judged[1:] == ["measured floor 80.0 ms", "90.0 ms", "1.12×", "1.2×", "yes"]
    assert beside[0].endswith("beside the network floor") and beside[3:] == ["1.50×", "—", "—"]

    slow_text, slow_misses = render(made_up_report(trip_ms=100.0), ARGS)
    assert rows(slow_text, "`list` → answer")[0][6:9] == ["1.25×", "1.2×", "**NO**"]
    assert "round trips `list` → answer: 1.25×" in slow_misses
