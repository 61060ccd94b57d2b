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
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.step()
            except BaseException:  # what is not an Exception too: ended here, the thread would end for good
                log.exception("the %s failed; trying again in %.0f s", self.name, self.every)
            took = time.monotonic() - began if self.fixed_rate else 0.0
            self._stop.wait(max(0.0, self.every - took))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
