"""A step run every so often on a thread of its own, until stopped: the sweep and the watch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Repeating:
    """Runs `step` now and then every `every` seconds; a failure is logged and the next run comes as planned.
    `fixed_rate`: `every` from the start of the last run (at once if it took longer), not from its end."""

    def __init__(self, name: str, step: Callable[[], object], every: float, fixed_rate: bool = False):
        self.name = name
        self.step = step
        self.every = every
        self.fixed_rate = fixed_rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        failing: str | None = None  # the last run's error, while runs fail
        repeats = 0
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.step()
            except BaseException as exc:  # what is not an Exception too: ended here, the thread would end for good
                # A database or a service down for an hour fails every run alike: its traceback once, then a line.
                error = said(exc)
                if error == failing:
                    repeats += 1
                    log.error("the %s failed again (%s; %d times in a row); trying again in %.0f s", self.name,
                              error, repeats + 1, self.every)
                else:
                    failing, repeats = error, 0
                    log.exception("the %s failed; trying again in %.0f s", self.name, self.every)
            else:
                if failing is not None:
                    log.info("the %s succeeded after %d failed runs", self.name, repeats + 1)
                failing, repeats = None, 0
            took = time.monotonic() - began if self.fixed_rate else 0.0
            self._stop.wait(max(0.0, self.every - took))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)


def said(exc: BaseException) -> str:
    """An error's kind and first line, cut: what tells one failure from another in a line of the log."""
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__
