"""The background executor: work handed over while a request is answered starts once the answer is written."""

from __future__ import annotations

import threading
from collections.abc import Callable

from bot.executor import TrackedExecutor, after_the_answer


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
