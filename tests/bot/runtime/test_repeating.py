"""The sweep, the inbox's keeper, the watch and its heartbeat each run on a `Repeating` thread: one failure of a
step must not end it, whatever the failure's class."""

from __future__ import annotations

import threading

from bot.runtime.repeating import Repeating


class NotAnException(BaseException):
    """What a library may raise that `except Exception` lets through (SystemExit from code a step calls, a
    library's timeout or cancellation derived from BaseException)."""


def test_a_step_failing_with_what_is_not_an_exception_is_logged_and_the_thread_goes_on(caplog: object) -> None:
    """It ended the thread, silently and for good: the sweep never ran again, the inbox's leases were no longer
    renewed (another instance took over the work this one was doing), and /healthz still said ok."""
    runs: list[int] = []
    again = threading.Event()

    def step() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise NotAnException("the first run fails")
        again.set()

    repeating = Repeating("sweep", step, every=0.01)
    repeating.start()
    try:
        assert again.wait(timeout=30), "the step never ran again after its failure"
    finally:
        repeating.stop(timeout=5)
    assert "the sweep failed" in caplog.text  # type: ignore[attr-defined]
