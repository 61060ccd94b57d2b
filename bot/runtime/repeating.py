"""A step run every so often on a thread of its own, until stopped: the sweep and the watch."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Repeating:
    """Runs `step` now and then every `every` seconds; a failure is logged and the next run comes as planned."""

    def __init__(self, name: str, step: Callable[[], object], every: float):
        self.name = name
        self.step = step
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("the %s failed; trying again in %.0f s", self.name, self.every)
            self._stop.wait(self.every)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
