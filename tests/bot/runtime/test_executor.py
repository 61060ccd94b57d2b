"""The work after an ack: run on another thread, counted until it ends, its failures told and logged."""

from __future__ import annotations

import threading

from bot.runtime.executor import TrackedExecutor
from bot.runtime.logs import new_request_id, request_id


def test_work_runs_on_another_thread_and_is_counted_until_it_ends() -> None:
    executor = TrackedExecutor(max_workers=2)
    release, threads = threading.Event(), []

    def work() -> None:
        threads.append(threading.current_thread())
        release.wait(10)

    executor.run(work)
    assert not executor.wait_idle(timeout=0.05)  # still running: whoever waits on the executor sees it
    release.set()
    assert executor.wait_idle(10)
    assert threads and threads[0] is not threading.current_thread()
    executor.shutdown()


def test_work_started_by_work_is_counted_too() -> None:
    executor = TrackedExecutor(max_workers=2)
    inner = threading.Event()
    executor.run(lambda: executor.run(inner.set))
    assert executor.wait_idle(10) and inner.is_set()
    executor.shutdown()


def test_a_failure_is_told_to_the_person_with_the_request_id() -> None:
    executor = TrackedExecutor(max_workers=1)
    answers: list[str] = []
    rid = new_request_id()

    def fails() -> None:
        raise RuntimeError("boom")

    executor.run_answered(answers.append, fails)
    assert executor.wait_idle(10)
    [answer] = answers
    assert rid in answer
    executor.shutdown()


def test_the_request_id_goes_with_the_work() -> None:
    executor = TrackedExecutor(max_workers=1)
    seen: list[str] = []
    rid = new_request_id()
    executor.run(lambda: seen.append(request_id.get()))
    assert executor.wait_idle(10) and seen == [rid]
    executor.shutdown()


def test_a_cancelled_reminder_is_never_called_and_the_others_are_once() -> None:
    from bot.runtime.reminders import Reminders

    reminders, called, all_due, cancelled = Reminders(), [], threading.Event(), threading.Event()
    # The first holds the reminders' one thread until the cancels are made: on a loaded machine they may take
    # longer than the others' delay.
    reminders.at(0, lambda: cancelled.wait(60))
    keys = [reminders.at(0.05, lambda i=i: called.append(i)) for i in range(200)]
    reminders.at(0.1, all_due.set)
    for key in keys[::2]:
        reminders.cancel(key)
    cancelled.set()
    assert all_due.wait(60)
    reminders.cancel(keys[1])  # once called: nothing to cancel
    assert sorted(called) == list(range(1, 200, 2))


def test_a_stream_of_reminders_set_and_cancelled_shares_one_thread() -> None:
    """Work sets a reminder and cancels it when it ends: request after request, the same thread waits for them,
    none started (and the ack made to wait for its start) for each."""
    import time

    from bot.runtime.reminders import Reminders

    reminders, threads = Reminders(), set()
    for _ in range(10):
        reminders.cancel(reminders.at(60, lambda: None))
        threads.add(reminders._thread)
        time.sleep(0.01)  # the next request comes a moment later
    reminders.stop()
    assert len(threads) == 1 and reminders._thread is None
