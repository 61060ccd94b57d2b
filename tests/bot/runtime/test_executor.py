"""When the work after an ack starts: once the ack is written, and in a burst once the door is quiet."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from bot.runtime.executor import TrackedExecutor, after_the_answer
from bot.runtime.server import AcksFirst


def test_work_handed_over_during_an_answer_starts_when_the_server_says_so() -> None:
    executor = TrackedExecutor(max_workers=2)
    ran = threading.Event()
    scheduled: list[Callable[[], None]] = []
    with after_the_answer(scheduled.append):
        executor.run(ran.set)
    assert not ran.wait(0.2)  # held: the answer is not written yet
    assert not executor.wait_idle(timeout=0.05)  # but counted, so nothing waiting on the executor misses it
    [start] = scheduled
    start()
    assert ran.wait(5) and executor.wait_idle(5)
    executor.shutdown()


def test_work_that_answers_its_failure_is_held_like_any_other() -> None:
    # Most listeners hand their work over with run_answered: it too must wait for the ack to be written.
    executor = TrackedExecutor(max_workers=2)
    ran = threading.Event()
    answers: list[str] = []
    scheduled: list[Callable[[], None]] = []
    with after_the_answer(scheduled.append):
        executor.run_answered(answers.append, ran.set)
    assert not ran.wait(0.2)
    assert not executor.wait_idle(timeout=0.05)
    [start] = scheduled
    start()
    assert ran.wait(5) and executor.wait_idle(5) and answers == []
    executor.shutdown()


def test_work_started_by_held_work_is_not_held_again() -> None:
    executor = TrackedExecutor(max_workers=2)
    inner = threading.Event()
    scheduled: list[Callable[[], None]] = []
    with after_the_answer(scheduled.append):
        executor.run(lambda: executor.run(inner.set))
    scheduled[0]()
    assert inner.wait(5) and executor.wait_idle(5)
    executor.shutdown()


def test_outside_an_answer_work_starts_at_once() -> None:
    executor = TrackedExecutor(max_workers=1)
    ran = threading.Event()
    executor.run(ran.set)
    assert ran.wait(5) and executor.wait_idle(5)
    executor.shutdown()


def test_in_a_burst_the_work_after_the_acks_waits_until_the_door_is_quiet() -> None:
    async def scenario() -> tuple[list[str], list[str], list[str]]:
        gate = AcksFirst(quiet=0.05, longest=5.0)
        started: list[str] = []
        assert not gate.arrived()  # alone: its work starts at once, once the ack is written
        gate.start(lambda: started.append("alone"), burst=False)
        await asyncio.sleep(0.1)
        alone = list(started)
        for name in ("first", "second", "third"):  # back to back
            burst = gate.arrived()
            gate.start(lambda name=name: started.append(name), burst)
            await asyncio.sleep(0.01)
        during = list(started)
        await asyncio.sleep(0.2)
        return alone, during, started

    alone, during, after = asyncio.run(scenario())
    assert alone == ["alone"]
    assert during == ["alone", "first"]  # the first of a burst came alone; the rest wait for quiet
    assert after == ["alone", "first", "second", "third"]


def test_a_long_burst_still_starts_its_work_after_the_longest_wait() -> None:
    async def scenario() -> list[int]:
        gate = AcksFirst(quiet=0.05, longest=0.2)
        started: list[int] = []
        gate.arrived()
        for i in range(40):  # 0.4 s of requests 10 ms apart: never quiet for 50 ms
            gate.start(lambda i=i: started.append(i), gate.arrived())
            await asyncio.sleep(0.01)
        return started

    assert len(asyncio.run(scenario())) >= 10


def test_the_work_of_a_request_that_came_alone_joins_a_burst_that_begins_within_the_grace() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        gate = AcksFirst(quiet=0.05, longest=5.0, grace=0.02)
        started: list[str] = []
        gate.start(lambda: started.append("first"), gate.arrived())
        await asyncio.sleep(0.005)
        gate.start(lambda: started.append("second"), gate.arrived())  # within the grace: a burst
        await asyncio.sleep(0.03)
        during = list(started)
        await asyncio.sleep(0.1)
        return during, started

    during, after = asyncio.run(scenario())
    assert during == [] and after == ["first", "second"]
