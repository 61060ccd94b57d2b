"""`serve`'s work after the ack, in worker processes of lower priority (BACKUP_BOT_WORKERS).

The process that acks (the front) writes each request's work to the inbox before its ack, as without workers, and
then hands the key of that work and the signed request to a worker over a queue, instead of doing the work in its
own interpreter: the acks then share neither the interpreter nor, at the OS's lower priority (`os.nice`), the CPU
with a backlog of work. A worker redoes the request from what the inbox holds (bot/runtime/app.py `redo`), as an
instance taking over a stopped one's rows does, under the front's name as the rows' holder. The first worker also
runs the sweep, the watch and the inbox's keeper (renewing the rows' leases, taking over stopped instances').

A worker that dies ends `serve` with a non-zero status, for its supervisor to start it again; the rows it held run
out of lease and are redone by the next instance, or by any other running meanwhile.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.domain.access_file import Stamp
    from bot.runtime.settings import Settings

log = logging.getLogger("bot")

# The workers' niceness above the front's: the scheduler gives the front the CPU whenever both want it.
NICENESS = 10
# A worker's line ends with this instead of a request's work: finish what is queued, drain, exit.
STOP = None
# Asked on a worker's second pipe for what it tells /healthz (anything else asked there: its metrics).
HEALTH = "health"
# How long a worker may leave the front's questions unanswered before /healthz says it is stuck (a process frozen
# or hung does nothing handed to it, and the leases of its rows are renewed: only a restart has them redone).
STUCK_SECONDS = 20.0
# A line telling a worker who opened their App Home (in the front's ack), instead of a request's work.
HOME = "home"
# What goes down a worker's pipe: a request's work (key, payload, arrival, request ID), (HOME, user) or STOP.
Line = tuple[str, str, tuple[str, float] | None, str] | tuple[str, str] | None


class Workers:
    """The front's side: the worker processes, a pipe to each, and a watch on their deaths."""

    def __init__(self, count: int, holder: str, drain_timeout: float, on_death: Callable[[str], None],
                 rules: tuple[Stamp, bytes] | None = None, settings: Settings | None = None):
        """`rules`: the front's access file as it read it (`AccessFile.version`), and `settings`: the front's, which
        each worker starts from: a file (the rules, `.env`) saved with a mistake while a worker starts is then a bad
        reload of the rules, as in the front, or nothing until the next start, not the worker's end."""
        context = multiprocessing.get_context("spawn")
        self.drain_timeout = drain_timeout
        self.on_death = on_death
        self.stopping = False
        self.processes: list[Any] = []
        self.pipes: list[Any] = []
        self.scrapes: list[tuple[threading.Lock, Any]] = []  # a pipe each, to ask for its metrics
        # A thread each that waits for its end: the one that reaps it (a second waiter could find it reaped
        # and take it for alive).
        self.watches: list[threading.Thread] = []
        # Since when each worker has left the front's questions unanswered (None: it answered the last).
        self.silent_since: list[float | None] = [None] * count
        for i in range(count):
            reader, writer = context.Pipe(duplex=False)
            asked, answering = context.Pipe()
            self.processes.append(context.Process(target=work, name=f"worker-{i}",
                                                  args=(reader, answering, holder, i == 0, rules, settings)))
            self.pipes.append(writer)
            self.scrapes.append((threading.Lock(), asked))
        # Each pipe is written by a thread of its own: a full pipe (a worker behind, or stuck) never holds the
        # inbox's writer, whose answers hand the work over, nor the lines of the other workers.
        self.lines: list[queue.SimpleQueue[Line]] = [queue.SimpleQueue() for _ in range(count)]
        self.turn = itertools.count()
        self.senders = [threading.Thread(target=self._send, args=(i,), name=f"to-worker-{i}", daemon=True)
                        for i in range(count)]

    def start(self) -> Workers:
        from bot.runtime import metrics

        metrics.WORKERS.append(self.metrics)
        for process in self.processes:
            process.start()
            watch = threading.Thread(target=self._watch, args=(process,), name=f"{process.name}-watch", daemon=True)
            self.watches.append(watch)
            watch.start()
        for sender in self.senders:
            sender.start()
        log.info("%d worker process(es) started for the work after the acks", len(self.processes))
        return self

    def hand(self, key: str, payload: str, at: tuple[str, float] | None, request_id: str) -> None:
        """Queues a request's work (written to the inbox already; `at`: its arrival; its ID in the logs) for the
        next worker in turn among those with the shortest line: one that stopped taking work (its pipe full) is
        given no more; never blocks."""
        first = next(self.turn)
        order = [(first + i) % len(self.lines) for i in range(len(self.lines))]
        worker = min(order, key=lambda i: self.lines[i].qsize())
        self.lines[worker].put((key, payload, at, request_id))

    def home_opened(self, user: str) -> None:
        """Tells every worker that `user` opened their App Home: whichever worker a request's step falls to
        publishes that Home again (handlers/home.py `refresh_homes`); never blocks."""
        for line in self.lines:
            line.put((HOME, user))

    def metrics(self) -> list[bytes]:
        """The running workers' metrics (bot/runtime/metrics_merge.py); those that do not answer within a second
        in all are left out, so that the front's own still answer the scrape however many are stuck."""
        deadline = time.monotonic() + 1.0
        return [answer for i, process in enumerate(self.processes) if process.pid is not None
                and isinstance(answer := self._ask(i, b"", deadline), bytes)]

    def reports(self) -> list[dict[str, Any]]:
        """What each running worker has to tell /healthz (bot/runtime/app.py `told`): the access rules it keeps
        after a bad reload, what the watch's last pass skipped. Those that do not answer within a second in all
        are left out: however many are stuck, the check stays within its own timeout."""
        deadline = time.monotonic() + 1.0
        return [report for i, process in enumerate(self.processes) if process.pid is not None
                and isinstance(report := self._ask(i, HEALTH, deadline), dict)]

    def stuck(self) -> list[str]:
        """The workers that have answered none of the front's questions for STUCK_SECONDS."""
        now = time.monotonic()
        return [process.name for process, since in zip(self.processes, self.silent_since, strict=True)
                if since is not None and now - since > STUCK_SECONDS]

    def _ask(self, worker: int, question: bytes | str, deadline: float) -> Any:
        answer = self._answer(worker, question, deadline)
        if answer is None:
            if self.silent_since[worker] is None:
                self.silent_since[worker] = time.monotonic()
        else:
            self.silent_since[worker] = None
        return answer

    def _answer(self, worker: int, question: bytes | str, deadline: float) -> Any:
        lock, pipe = self.scrapes[worker]
        # The other endpoint's question to the same worker holds its pipe until its own deadline at most.
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return None
        try:
            while pipe.poll(0):  # an answer that came too late for the question before
                pipe.recv()
            pipe.send(question)
            return pipe.recv() if pipe.poll(max(0.0, deadline - time.monotonic())) else None
        except (OSError, EOFError):
            return None
        finally:
            lock.release()

    def _send(self, worker: int) -> None:
        while True:
            item = self.lines[worker].get()
            try:
                self.pipes[worker].send(item)
            except OSError:  # that worker is gone: its watch stops serve, and the inbox has the work
                continue
            if item is STOP:
                return

    def alive(self) -> bool:
        return all(process.is_alive() for process in self.processes)

    def _watch(self, process: Any) -> None:
        process.join()
        if not self.stopping:
            reason = f"the worker process {process.name} ended (exit code {process.exitcode})"
            log.error("%s: serve stops, for its supervisor to start it again; the work it held is redone from the "
                      "inbox once its lease runs out", reason)
            self.on_death(reason)

    def ask_to_stop(self) -> None:
        """After the last ack: each worker finishes what is queued for it, then drains (BACKUP_BOT_DRAIN_TIMEOUT)."""
        self.stopping = True
        for line in self.lines:
            line.put(STOP)

    def join(self) -> None:
        """Waits for each worker's end through its watch, which reaps it; those never started (the database could
        not be used) have none."""
        for process, watch in zip(self.processes, self.watches, strict=False):
            watch.join(self.drain_timeout + 10)
            if watch.is_alive():
                log.warning("%s did not end in time: ended now; its work is redone from the inbox", process.name)
                process.kill()
                watch.join()


def work(pipe: Any, scrapes: Any, holder: str, first: bool, rules: tuple[Stamp, bytes] | None = None,
         given: Settings | None = None) -> None:
    """A worker's life: its own app and connections, the work queued for it until STOP; `given`: the front's
    settings (else read here)."""
    os.nice(NICENESS)
    # Stopping is the front's to say, after its last ack (a terminal's Ctrl-C or a supervisor's SIGTERM reach
    # the whole group): a worker that stopped first would leave work queued behind it undone until a takeover.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from bot.runtime.running import configure_logging, exit_now
    from bot.runtime.settings import Settings, SettingsError

    try:
        settings = given or Settings.load()
        configure_logging(settings)
        reporting: list[Callable[[], dict[str, Any]]] = []  # what it tells /healthz, once it has an app
        threading.Thread(target=_answer_scrapes, args=(scrapes, reporting), name="metrics", daemon=True).start()
        status = _serve_queue(pipe, holder, first, settings, reporting, rules)
    except SettingsError as exc:
        for problem in exc.problems:
            log.error("worker: %s", problem)
        status = 2
    exit_now(status)  # work still running after the drain is the inbox's to redo


def _serve_queue(pipe: Any, holder: str, first: bool, settings: Any,
                 reporting: list[Callable[[], dict[str, Any]]], rules: tuple[Stamp, bytes] | None) -> int:
    from bot.adapters.store import Store
    from bot.domain.access_file import AccessFile
    from bot.runtime.app import build_dependencies, redo, told
    from bot.runtime.executor import TrackedExecutor
    from bot.runtime.lifecycle import drain
    from bot.runtime.metrics import BUDGET, arrived
    from bot.runtime.running import start_sweeper, start_watcher

    executor = TrackedExecutor()
    # The front checked the schema before it started the workers: a database that stops answering now is each
    # request's to tell, as in the front, not the end of the worker (and with it of serve).
    store = Store(settings.database_url)
    store.ready.set()
    deps = build_dependencies(settings, store=store, background=executor, holder=holder,
                              processes=1 + settings.workers,
                              rules=AccessFile(settings.access_file, start=rules) if rules else None)
    # The front checked each request's signature before it acked and queued it; a request may wait here longer
    # than the five minutes Bolt allows. Those the keeper takes over from the inbox it checks itself.
    app = _app_once_slack_answers(settings, deps)
    limiter = settings.planetscale_limiter()
    BUDGET.configure(limiter.requests, limiter.per)
    sweeper = start_sweeper(deps, app, settings) if first else None
    watcher = start_watcher(deps, app.client, settings) if first else None
    reporting.append(partial(told, deps, watcher))
    while True:
        try:
            item = pipe.recv()
        except EOFError:  # the front was killed: its rows are taken over once their leases run out
            log.error("worker: the front process has ended; this worker stops")
            break
        if item is STOP:
            break
        if len(item) == 2:  # (HOME, user): opened in the front's ack, its work perhaps another worker's
            deps.home_viewers.opened(item[1])
            continue
        key, payload, at, request_id = item
        arrived(at)
        try:
            status = redo(app, payload, frozenset({key}), request_id=request_id, done=executor.done)
        except Exception:  # its row stays in the inbox: the next instance's keeper redoes it
            log.exception("worker: a request's work could not be started")
            continue
        if status != 200:
            log.warning("worker: a request's work answered %d", status)
    drain(executor, sweeper, watcher, deps, settings.drain_timeout)
    return 0


# How long a worker waits before checking the token with Slack again, while Slack fails to answer auth.test.
AUTH_RETRY_SECONDS = 2.0


def _app_once_slack_answers(settings: Any, deps: Any) -> Any:
    """The worker's app. Bolt checks the token with auth.test as it is built; the front checked it a moment ago,
    so a failure now is Slack's (a hiccup, a rate limit) or a token revoked since, which the front's work meets too:
    the worker waits for Slack, its work queued meanwhile, rather than ending serve, which acks without Slack."""
    from bot.runtime.app import build_app
    from bot.runtime.settings import SettingsError

    while True:
        try:
            return build_app(settings, deps, verify=False)
        except SettingsError as exc:
            log.error("worker: %s; trying again in %.0f s", exc.problems[0], AUTH_RETRY_SECONDS)
            time.sleep(AUTH_RETRY_SECONDS)


def _answer_scrapes(scrapes: Any, reporting: list[Callable[[], dict[str, Any]]]) -> None:
    from prometheus_client import generate_latest

    from bot.runtime.metrics import REGISTRY

    while True:
        try:
            question = scrapes.recv()
        except (OSError, EOFError):
            return
        try:
            answer: Any = (reporting[0]() if reporting else {}) if question == HEALTH else generate_latest(REGISTRY)
        except Exception:  # this thread answering is what says the worker is not stuck: it carries on
            log.exception("worker: what it tells /healthz or /metrics could not be made")
            answer = {} if question == HEALTH else b""
        try:
            scrapes.send(answer)
        except (OSError, EOFError):
            return
