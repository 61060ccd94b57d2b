"""Where the work after an ack runs: a thread pool that can tell when all work handed to it has finished, and
that never lets a failure pass silently."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from bot.domain.changes import explain
from bot.runtime.logs import request_id
from bot.runtime.metrics import work_finished

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)


class TrackedExecutor(ThreadPoolExecutor):
    def __init__(self, max_workers: int = 16):
        super().__init__(max_workers=max_workers, thread_name_prefix="lazy")
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._idle:
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any] | None) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def run(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run `fn` after the caller returns; a failure is logged, never lost silently."""

        def guarded() -> None:
            try:
                fn(*args, **kwargs)
            except Exception:
                log.exception("background work %s failed", getattr(fn, "__name__", fn))
            finally:
                work_finished()

        self._hand_over(guarded)

    def _hand_over(self, work: Callable[[], None]) -> None:
        # The caller's context (its request ID, for one) goes with the work.
        self.submit(contextvars.copy_context().run, work)

    def run_answered(self, answer: Callable[[str], None], fn: Callable[P, object], /, *args: P.args,
                     **kwargs: P.kwargs) -> None:
        """Run `fn` after the caller returns; if it fails unexpectedly, the failure is logged with the request ID
        and the person is told, through `answer`, what is known: nobody is left waiting for an answer."""

        def answered() -> None:
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                log.exception("background work %s failed", getattr(fn, "__name__", fn))
                try:
                    answer(explain(exc, request_id.get()))
                except Exception:
                    log.exception("and the person could not be told")
            finally:
                work_finished()

        self._hand_over(answered)

    @property
    def pending(self) -> int:
        """Pieces of work handed over and not yet finished."""
        with self._idle:
            return self._pending

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no submitted work is left (work may submit more); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)
