"""Where the work after an ack runs: a thread pool that can tell when all work handed to it has finished, and
that never lets a failure pass silently."""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ParamSpec, TypeVar

from bot.adapters.rate_limit import describe_wait
from bot.adapters.store.busy import busy
from bot.adapters.store.connection import refusal
from bot.adapters.store.inbox import InboxStalled, Working, working_on
from bot.domain.change_requests import WorkIds, work_ids
from bot.domain.changes import explain
from bot.runtime.inbox_writer import InboxPort, InboxWriter
from bot.runtime.logs import request_id
from bot.runtime.metrics import arrived_at, work_finished
from bot.runtime.reminders import Reminders

# Work that must wait longer than this for PlanetScale's budget is told at once to its person: queued, and about
# how long.
QUEUED_NOTICE_SECONDS = 5.0
# The PlanetScale requests one piece of work ahead in the line is counted for: a read, and a change's read again.
REQUESTS_PER_WORK = 2
# Threads for work that uses a trigger_id (views.open), each bounded by Slack's timeout.
PROMPT_THREADS = 16
# Keys of work run before its inbox row landed, remembered: more than Slack's signatures' 5 minutes bring.
PROMPT_KEYS_KEPT = 4096
# How long the listener waits for its request's inbox row before acking without it.
INBOX_WAIT_SECONDS = 0.25
# Work still running this long after its ack is told to its person, once: whatever holds it (a database that stops
# answering on the network, which no statement timeout ends; PlanetScale slow), nobody waits in silence. Past a
# statement's own timeout on PostgreSQL, so a database that answers with an error tells that instead.
STILL_WORKING_SECONDS = 40.0
# How long work whose inbox row met a stalled database waits for the database to write it again, trying every
# REWRITE_PAUSE_SECONDS: a stall the network ends soon costs the work nothing but the wait.
REWRITE_SECONDS, REWRITE_PAUSE_SECONDS = 600.0, 1.0
STILL_WORKING = ("Still working on this: the bot's database or PlanetScale is slow to answer right now. The answer "
                 "comes here once it is done; nothing to do meanwhile.")

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Redo:
    """A request dispatched again from the inbox: the keys of its work left to do, and those its listeners reached
    (the rest went another way than on the instance that first answered it)."""

    keys: frozenset[str]
    reached: set[str] = field(default_factory=set)
    again: bool = False  # taken over from an instance that stopped (not a worker doing the front's work)


@dataclass
class Delivery:
    """One request from Slack being answered: the work it hands over (on the thread that answers it, in order)
    is keyed on a digest of its body, the same for its replays and for Slack's retries of it."""

    digest: str
    payload: str = ""  # the signed request, to redo its work from on another instance
    redo: Redo | None = None  # redoing a stopped instance's work, or the front's in a worker
    thread: int = field(default_factory=threading.get_ident)
    handed: int = 0

    def next_key(self) -> str | None:
        if threading.get_ident() != self.thread:
            return None  # work handed over by that work: it runs only if the first did
        self.handed += 1
        return f"{self.digest}:{self.handed}"


_delivery: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar("delivery", default=None)
_redoing: contextvars.ContextVar[Redo | None] = contextvars.ContextVar("redoing", default=None)


def delivering(body: str, payload: str = "") -> None:
    """The request with this body is being answered on this thread, from now until the next one is: Bolt runs
    a request's listener after its middleware has returned, on the same thread. Slack's requests differ in
    their trigger_id, action_ts or event_id: two with one body are one request sent again."""
    _delivery.set(Delivery(hashlib.sha256(body.encode()).hexdigest(), payload, _redoing.get()) if body else None)


@contextmanager
def redoing(keys: frozenset[str], again: bool = False) -> Iterator[Redo]:
    """Requests dispatched on this thread meanwhile redo the work `keys` of an instance that stopped (or of the
    front, in a worker), and only that work."""
    redo = Redo(keys, again=again)
    token = _redoing.set(redo)
    try:
        yield redo
    finally:
        _redoing.reset(token)


def redoing_now() -> bool:
    """Whether the request answered on this thread is dispatched again from the inbox (TrackedExecutor.redoing)."""
    return _redoing.get() is not None


class TrackedExecutor(ThreadPoolExecutor):
    def __init__(self, max_workers: int = 16):
        super().__init__(max_workers=max_workers, thread_name_prefix="lazy")
        self._pending = 0
        self._idle = threading.Condition()
        # Whether a request's work is seen for the first time (by every instance): set by the runtime.
        self.first_time: Callable[[str], bool] | None = None
        # How long `n` more PlanetScale requests would wait for the budget now, from memory (never the database):
        # set by the runtime.
        self.budget_wait: Callable[[int], float] | None = None
        self._workers = max_workers
        self._notices = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queued")
        # Work that uses a trigger_id (3 s) runs on threads of its own: never behind work waiting on PlanetScale.
        self._prompt = ThreadPoolExecutor(max_workers=PROMPT_THREADS, thread_name_prefix="prompt")
        # The inbox cannot tell a replay of such work while its first row is still being written: this process can.
        self._run_unwritten: dict[str, bool] = {}  # True once its row is marked done
        self._stopping = threading.Event()  # set as the pool shuts down: work waiting for the database stops
        # Where each request's work is written before its ack, so that another instance redoes it should this one
        # stop: set by the runtime (`inbox`). A thread of its own; the listener waits for it at most `inbox_wait`.
        self._writer: InboxWriter | None = None
        self.inbox_wait = INBOX_WAIT_SECONDS
        self.still_working_after = STILL_WORKING_SECONDS
        self._reminders = Reminders()
        # Where a request's work goes once written to the inbox, instead of this pool: a worker process's queue
        # (`serve` with BACKUP_BOT_WORKERS, bot/runtime/workers.py). Set by the runtime.
        self.hand_to: Callable[[str, str, tuple[str, float] | None, str], None] | None = None

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """As the pool's, and ends the threads beside it: the notices', the reminders', the inbox writer's."""
        self._stopping.set()
        self._prompt.shutdown(wait=wait, cancel_futures=cancel_futures)  # first: its work hands more to the pool
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        self._notices.shutdown(wait=wait)
        self._reminders.stop(timeout=None if wait else 0)
        if self._writer is not None:
            self._writer.close(wait=wait)

    @property
    def redoing(self) -> bool:
        """Whether the request answered on this thread is dispatched again from the inbox: its ack reaches nobody,
        so its listener hands over what the first instance's did, never answering in the ack instead."""
        return redoing_now()

    def done(self, key: str) -> None:
        """Marks work this instance holds in the inbox done without doing it."""
        if self._writer is not None:
            self._writer.done(key).result()

    @property
    def inbox(self) -> InboxPort | None:
        return None if self._writer is None else self._writer.inbox

    @inbox.setter
    def inbox(self, inbox: InboxPort | None) -> None:
        self._writer = None if inbox is None else InboxWriter(inbox)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self._submit(super().submit, fn, *args, **kwargs)

    def _submit(self, to: Callable[..., Future[T]], fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._idle:
            self._pending += 1
        try:
            future = to(fn, *args, **kwargs)
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
        self._run(False, fn, *args, **kwargs)

    def run_promptly(self, fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """As `run`, in this process whatever `hand_to` says: work that uses a trigger_id (3 s) never waits in a
        worker's line."""
        self._run(True, fn, *args, **kwargs)

    def _run(self, here: bool, fn: Callable[..., object], /, *args: Any, **kwargs: Any) -> None:

        def guarded() -> None:
            try:
                fn(*args, **kwargs)
            except Exception:
                log.exception("background work %s failed", getattr(fn, "__name__", fn))
            finally:
                work_finished()

        self._hand_over(guarded, here, promptly=here)

    def _hand_over(self, work: Callable[[], None], here: bool = True,
                   promptly: bool = False) -> Future[Any] | None:
        """What this process's part of the work ends with: the work on a thread of this pool, or, for a worker's,
        the inbox's write of its row; None if nothing of it is done here. `promptly`: work that uses a trigger_id,
        which runs without waiting for its row any longer than the ack did."""
        current = _delivery.get()
        key = current.next_key() if current is not None and self.first_time is not None else None
        if current is not None and key is not None:
            if current.redo is not None:
                if key not in current.redo.keys:
                    log.info("work of a redone request that its first instance finished: not done again")
                    return None
                current.redo.reached.add(key)
                work = partial(self._holding, key, work, current.redo.again)
            elif self._writer is not None and current.payload:
                written = self._writer.take(key, current.payload)
                try:  # a failed write is the work's to tell: it acts without its row
                    written.exception(timeout=self.inbox_wait)
                except TimeoutError:
                    log.warning("the inbox did not write this request within %.2f s: acked without it, acting on it "
                                "once written", self.inbox_wait)
                if promptly and (not written.done() or written.exception() is not None):
                    # A trigger_id lasts 3 s, a held or refused write longer: the work runs now (a replay's use of
                    # the spent trigger_id is refused by Slack) and its row is done once it lands.
                    if not self._first_unwritten(key):
                        log.info("a request already acted on (replayed, or retried by Slack): not acted on again")
                        return None
                    ran = self._submit(self._prompt.submit, contextvars.copy_context().run, work)
                    both = partial(self._done_once_written, key, written, ran)
                    written.add_done_callback(both)
                    ran.add_done_callback(both)
                    return ran
                work = partial(self._written, key, written, work, current.payload)
                if not here and self.hand_to is not None:  # as _to_a_worker says
                    at = (arrived_at(), request_id.get())
                    ended: Future[Any] = Future()  # handed to a worker, or done here
                    written.add_done_callback(partial(self._to_worker, key, current.payload, at,
                                                      partial(contextvars.copy_context().run, work), ended))
                    return ended
            else:
                work = partial(self._once, key, work)
        # The caller's context (its request ID, for one) goes with the work.
        if promptly:
            return self._submit(self._prompt.submit, contextvars.copy_context().run, work)
        return self.submit(contextvars.copy_context().run, work)

    def _to_a_worker(self) -> bool:
        """Whether work handed over now (unless promptly) goes to a worker: a request's own, first seen here."""
        current = _delivery.get()
        return (self.hand_to is not None and self.first_time is not None and self._writer is not None
                and current is not None and current.redo is None and bool(current.payload)
                and threading.get_ident() == current.thread)

    def _to_worker(self, key: str, payload: str, at: tuple[tuple[str, float] | None, str],
                   work: Callable[[], None], ended: Future[Any], written: Future[bool]) -> None:
        """Once the inbox has the work's row, a worker redoes it from there (`hand_to` only queues it); without a
        row (the database failed), `work` is done here, as without workers. `ended` once either is."""
        assert self.hand_to is not None
        if written.exception() is None and not written.result():
            log.info("a request already acted on (replayed, or retried by Slack): not acted on again")
            ended.set_result(None)
            return
        if written.exception() is None:
            try:
                self.hand_to(key, payload, *at)
                ended.set_result(None)
                return
            except Exception:
                log.exception("could not hand this request's work to a worker; acting on it here")
        self.submit(work).add_done_callback(lambda _: ended.set_result(None))

    def _first_unwritten(self, key: str) -> bool:
        with self._idle:
            if key in self._run_unwritten:
                return False
            self._run_unwritten[key] = False
            if len(self._run_unwritten) > PROMPT_KEYS_KEPT:
                del self._run_unwritten[next(iter(self._run_unwritten))]
            return True

    def _done_once_written(self, key: str, written: Future[bool], ran: Future[Any], _: Future[Any]) -> None:
        """The row of work run before it landed is done once it has landed and the work has ended: work the
        process's end cut short (cancelled, a BaseException) leaves its row to be taken over."""
        if not (written.done() and ran.done()) or ran.cancelled() or ran.exception() is not None:
            return
        if written.exception() is not None or not written.result() or self._writer is None:
            return
        with self._idle:
            if self._run_unwritten.get(key):
                return  # both ended at once: marked by the other's callback
            self._run_unwritten[key] = True
        self._writer.done(key)

    def _once(self, key: str, work: Callable[[], None]) -> None:
        """The work of a request from Slack, unless a replay of it or Slack's retry of it did it already. Asked
        here, after the ack: the ack never waits on the database."""
        assert self.first_time is not None
        try:
            first = self.first_time(key)
        except Exception:
            log.exception("could not check whether this request was seen before; acting on it")
            first = True
        if not first:
            log.info("a request already acted on (replayed, or retried by Slack): not acted on again")
            return
        work()

    def _written(self, key: str, written: Future[bool], work: Callable[[], None], payload: str) -> None:
        """The work of a request written to the inbox before its ack (or being written still). Where the database
        stalled under the write, the writer gave up within its bound (the acks' later writes wait behind it); the
        work waits for the database here instead, and writes its row once it answers."""
        try:
            first = written.result()
        except InboxStalled as exc:
            log.warning("%s: waiting for the database to write this request again", exc)
            again = self._take_again(key, payload)
            if again is None:
                if not self._stopping.is_set():
                    self._once(key, work)
                return
            first = again
        except Exception:
            log.exception("could not write this request to the inbox; acting on it without")
            self._once(key, work)
            return
        if not first:
            log.info("a request already acted on (replayed, or retried by Slack): not acted on again")
            return
        self._holding(key, work)

    def _take_again(self, key: str, payload: str) -> bool | None:
        """The work's row written again once the database answers, tried every REWRITE_PAUSE_SECONDS for
        REWRITE_SECONDS (its person is told meanwhile that it still runs); None once that is past, or once the
        pool shuts down."""
        assert self._writer is not None
        deadline = time.monotonic() + REWRITE_SECONDS
        while True:
            try:
                return self._writer.inbox.take_again(key, payload)
            except Exception:
                if time.monotonic() > deadline:
                    log.exception("could not write this request to the inbox; acting on it without")
                    return None
            if self._stopping.wait(REWRITE_PAUSE_SECONDS):
                log.error("stopping while the database does not answer: this request's work is not done here (done "
                          "by another instance if its row landed)")
                return None

    def _holding(self, key: str, work: Callable[[], None], again: bool = False) -> None:
        """Runs work this instance holds in the inbox; its row is done once the work ends, unless the work's own
        store write marked it done with what it stored. The requests it asks take IDs derived from the key, the
        same when another instance redoes it. Work ended by the process ending (a BaseException: `work` catches
        every Exception) leaves its row to be taken over."""
        working = Working(key)
        working_on.set(working)
        work_ids.set(WorkIds(key, again))
        work()
        if not working.done and self._writer is not None:
            try:
                self._writer.done(key).result()
            except Exception:
                log.exception("could not mark this request's work done in the inbox")

    def run_answered(self, answer: Callable[[str], None], fn: Callable[P, object], /, *args: P.args,
                     **kwargs: P.kwargs) -> None:
        """Run `fn` after the caller returns; if it fails unexpectedly, the failure is logged with the request ID
        and the person is told, through `answer`, what is known: nobody is left waiting for an answer."""
        self._run_answered(False, answer, fn, *args, **kwargs)

    def run_answered_promptly(self, answer: Callable[[str], None], fn: Callable[P, object], /, *args: P.args,
                              **kwargs: P.kwargs) -> None:
        """As `run_answered`, in this process (see `run_promptly`)."""
        self._run_answered(True, answer, fn, *args, **kwargs)

    def _run_answered(self, here: bool, answer: Callable[[str], None], fn: Callable[..., object], /, *args: Any,
                      **kwargs: Any) -> None:
        # A worker redoes it, and tells the person it is queued or still running from there, once the inbox has its
        # row; until then (a database that does not answer) this process tells them it still runs.
        started = time.monotonic()
        to_worker = not here and self._to_a_worker()
        wait = 0.0 if to_worker else self.expected_wait()
        if wait > QUEUED_NOTICE_SECONDS:  # told on a thread of its own: the workers are the line it is in
            with self._idle:
                self._pending += 1
            told = self._notices.submit(contextvars.copy_context().run, _tell_queued, answer, wait)
            told.add_done_callback(self._done)

        handed = self._hand_over(partial(self._answered, answer, fn, *args, **kwargs), here=not to_worker,
                                 promptly=here)
        # Told how long it waits already, or told it still runs while what this process holds of it runs: the work
        # here, or a worker's row being written. A row written already is the worker's to tell from.
        if wait <= QUEUED_NOTICE_SECONDS and handed is not None and not handed.done():
            reminder = self._reminders.at(self.still_working_after - (time.monotonic() - started),
                                          partial(contextvars.copy_context().run, _tell_still_working, answer))
            handed.add_done_callback(lambda _: self._reminders.cancel(reminder))

    @staticmethod
    def _answered(answer: Callable[[str], None], fn: Callable[..., object], /, *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            log.exception("background work %s failed", getattr(fn, "__name__", fn))
            try:
                answer(explained(exc, request_id.get()))
            except Exception:
                log.exception("and the person could not be told")
        finally:
            work_finished()

    def expected_wait(self) -> float:
        """How long work handed over now would wait for PlanetScale's budget: the line there, and the work
        waiting here for a worker ahead of it."""
        if self.budget_wait is None:
            return 0.0
        with self._idle:
            ahead = max(0, self._pending - self._workers)
        return self.budget_wait((ahead + 1) * REQUESTS_PER_WORK)

    @property
    def pending(self) -> int:
        """Pieces of work handed over and not yet finished."""
        with self._idle:
            return self._pending

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no submitted work is left (work may submit more); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)


def _tell_still_working(answer: Callable[[str], None]) -> None:
    try:
        answer(STILL_WORKING)
    except Exception:
        log.exception("the person could not be told that their request is still being worked on")


def _tell_queued(answer: Callable[[str], None], wait: float) -> None:
    try:
        answer(f"Queued: PlanetScale's request budget is in use by the requests ahead of "
               f"yours, so the answer comes in about {describe_wait(wait)}. Nothing to do meanwhile.")
    except Exception:
        log.exception("the person could not be told that their request is queued")


class Beside:
    """The change path's Fork (bot/domain/ports.py): reads started beside the work that waits for them, on
    threads of their own, so that such a read never queues behind the work waiting for it. Each runs in a copy
    of its caller's context (its request ID in the log)."""

    def __init__(self, workers: int = 8):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="beside")

    def __call__(self, work: Callable[[], T], /) -> Callable[[], T]:
        return self._pool.submit(contextvars.copy_context().run, work).result

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def explained(exc: BaseException, reference: str | None) -> str:
    """`explain`, and a database that refuses writes (read-only, full) or could not answer now (a lock held by another
    session, no connection free) said as such: the person can try again once it does, which "something went wrong"
    does not tell."""
    reason = refusal(getattr(exc, "orig", None) or exc)
    if reason is None:
        waited = busy(exc)
        if waited is None:
            return explain(exc, reference)
        return (f"The bot's database could not answer in time ({waited}), so nothing more was done: try again in a "
                f"minute. The error is in the bot's log under request `{reference}`.")
    return (f"The bot's database refuses to record anything now ({reason}), so nothing more was done: try again "
            f"once it takes writes again. The error is in the bot's log under request `{reference}`.")
