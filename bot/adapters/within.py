"""An HTTP exchange within one bound of time, head and body.

httpx's timeouts bound each read, not the whole: an answer whose head or body is trickled (a stalled proxy, a
broken load balancer) holds its caller for as long as it goes on. The body is read here a chunk at a time against
the deadline. The head is read by httpx before it returns the response, so it is waited for on a thread of its
own: the caller gives up at the deadline, and the thread, once the head comes or a read times out, closes the
answer no one waits for. A trickled head holds that thread (and its connection), never the caller nor another
request: httpx offers no documented way to abort a read from another thread, so the thread is let run, counted as
held, and bounded in number. The threads are reused, one per head at a time, so a request does not wait for a new
thread to start. They are daemon threads: one held at exit does not hold up the process's end (concurrent.futures'
pool joins its threads at exit, so it is not used here).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import httpx

log = logging.getLogger(__name__)

# Heads waited for at once, held ones included (httpx's pool has 100 connections by default): beyond them, a
# request waits its turn within its own deadline.
MOST_HEAD_THREADS = 128
# A thread with no head to wait for this long ends: a burst's threads do not stay.
IDLE_SECONDS = 30.0


def one_try_seconds(timeout: httpx.Timeout) -> float:
    """The longest one exchange may take: each of its timeouts in turn, as if each part took all of its own."""
    return sum(t or 0.0 for t in (timeout.pool, timeout.connect, timeout.write, timeout.read))


class Within:
    """Sends a client's requests, giving each answer's head until a deadline (see the module's docstring)."""

    def __init__(self, client: httpx.Client, name: str):
        self.client = client
        self.name = name
        self.threads = _Threads(MOST_HEAD_THREADS, f"{name}-head")
        self.lock = threading.Lock()
        self.held = 0  # threads still waiting for a head their caller gave up on

    def send(self, request: httpx.Request, deadline: float,
             waited: Callable[[], None] | None = None) -> httpx.Response:
        """The answer to `request`, its head read and its body not yet (the caller reads it and closes it);
        httpx.ReadTimeout if the head has not come by `deadline` (time.monotonic), httpx.PoolTimeout (unsent) if
        no thread to wait for it was free by then. `waited`: called once a thread is had after waiting for one,
        before the request leaves (it may raise to keep it unsent)."""
        head = _Head(self, request)
        if not self.threads.start(functools.partial(contextvars.copy_context().run, head.wait),
                                  max(0.0, deadline - time.monotonic()), waited):
            # Never sent: told as a connection that never opened.
            raise httpx.PoolTimeout(f"{MOST_HEAD_THREADS} answers' heads are awaited already", request=request)
        head.done.wait(max(0.0, deadline - time.monotonic()))
        with self.lock:
            if not head.done.is_set():  # under way: its answer, once it comes, is closed unread
                head.abandoned = True
                self.held += 1
                held = self.held
            elif head.error is not None:
                raise head.error
            else:
                assert head.response is not None
                return head.response
        log.warning("%s: an answer's head did not come in time; %d thread(s) held waiting for such heads",
                    self.name, held)
        raise httpx.ReadTimeout("the answer's head did not arrive in time", request=request)

    def close(self) -> None:
        """Its idle threads end now; a thread still waiting ends once its read does (the client's close ends the
        rest)."""
        self.threads.stop()


class _Head:
    """One request's answer's head, waited for on a thread."""

    def __init__(self, within: Within, request: httpx.Request):
        self.within, self.request = within, request
        self.done = threading.Event()
        self.abandoned = False
        self.response: httpx.Response | None = None
        self.error: Exception | None = None

    def wait(self) -> None:
        try:
            response: httpx.Response | None = self.within.client.send(self.request, stream=True)
        except Exception as exc:  # handed to the caller, which raises it
            response, self.error = None, exc
        with self.within.lock:
            if self.abandoned:
                self.within.held -= 1
            else:
                self.response = response
                self.done.set()
                return
        if response is not None:
            response.close()


class _Threads:
    """Daemon threads that run jobs, at most `most` jobs under way or waiting for a thread at once; a thread that
    finishes one takes the next, and ends once none has come for IDLE_SECONDS."""

    def __init__(self, most: int, name: str):
        self.name = name
        self.free = threading.BoundedSemaphore(most)  # one held from a job's start until its thread is free again
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0  # threads free that no job has claimed yet
        self.stopped = False

    def start(self, job: Callable[[], None], timeout: float, waited: Callable[[], None] | None = None) -> bool:
        """Runs `job` on a thread; False, and not run, if `most` were under way until `timeout` seconds passed.
        `waited`: called, holding the turn, when `job` had to wait for it (what it raises is raised, `job` unrun)."""
        if not self.free.acquire(blocking=False):
            if not self.free.acquire(timeout=timeout):
                return False
            if waited is not None:
                try:
                    waited()
                except BaseException:
                    self.free.release()
                    raise
        with self.lock:
            claimed = self.idle > 0
            if claimed:
                self.idle -= 1
        if claimed:  # a free thread takes it: as many jobs come to the queue as threads were claimed
            self.jobs.put(job)
            return True
        try:
            threading.Thread(target=self._run, args=(job,), name=self.name, daemon=True).start()
        except BaseException:
            self.free.release()
            raise
        return True

    def stop(self) -> None:
        """Idle threads end now, busy ones once their job is done."""
        with self.lock:
            self.stopped, idle, self.idle = True, self.idle, 0
        for _ in range(idle):
            self.jobs.put(None)

    def _run(self, job: Callable[[], None] | None) -> None:
        while job is not None:
            try:
                job()
            except BaseException:
                self.free.release()
                raise
            job = None  # an idle thread keeps nothing of the exchange it waited for (its context, its client)
            with self.lock:
                stopped = self.stopped
                if not stopped:
                    self.idle += 1
            self.free.release()  # after counting itself free: a job that gets this finds it, no thread too many
            if stopped:
                return
            try:
                job = self.jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self.lock:
                    if self.idle > 0:  # unclaimed: it ends
                        self.idle -= 1
                        return
                job = self.jobs.get()  # claimed as it stopped waiting (its job, or None from stop, is on its way)


def read_within(response: httpx.Response, deadline: float, most: int) -> bytes | None:
    """The body, its Content-Encoding undone, or None if it is over `most` bytes; httpx.ReadTimeout if it has not
    all come by `deadline`; httpx.DecodingError if it is not what its Content-Encoding says."""
    if response.is_stream_consumed:  # read whole already (a transport that gives it so): its encoding undone
        return response.content if len(response.content) <= most else None
    layers = _Layers(response, most)
    body = bytearray()
    for chunk in response.iter_raw():
        undone = layers.undo(chunk)
        if undone is None or len(body) + len(undone) > most:
            return None
        body += undone
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the answer's body did not arrive in time", request=response.request)
    undone = layers.undo(b"", last=True)
    if undone is None or len(body) + len(undone) > most:
        return None
    return bytes(body + undone)


class _Layers:
    """Undoes a Content-Encoding (gzip, deflate, several in turn) as httpx would, but never more than `most` bytes
    of any layer at once: httpx undoes each chunk whole, and a few kilobytes gzipped twice are gigabytes."""

    def __init__(self, response: httpx.Response, most: int):
        self.request = response.request
        self.most = most
        names = [name.strip().lower() for name in ",".join(response.headers.get_list("content-encoding")).split(",")]
        # The last named was applied last: undone first. Names httpx does not undo pass as they are, as in httpx.
        self.layers: list[list[Any]] = [[name, None, False] for name in reversed(names) if name in _WBITS]

    def undo(self, data: bytes, last: bool = False) -> bytes | None:
        """The next bytes of the body; None once a layer is over `most`."""
        for layer in self.layers:
            try:
                out = self._one(layer, data, last)
            except zlib.error:
                if layer[0] != "deflate" or layer[2]:
                    raise httpx.DecodingError(f"the answer is not the {layer[0]} it says",
                                              request=self.request) from None
                # Deflate without its zlib wrapper, as some servers send it (httpx reads both).
                layer[1] = zlib.decompressobj(-zlib.MAX_WBITS)
                layer[2] = True
                try:
                    out = self._one(layer, data, last)
                except zlib.error:
                    raise httpx.DecodingError("the answer is not the deflate it says", request=self.request) from None
            if layer[1].unconsumed_tail or len(out) > self.most:
                return None
            data = out
        return data

    def _one(self, layer: list[Any], data: bytes, last: bool) -> bytes:
        if layer[1] is None:
            layer[1] = zlib.decompressobj(_WBITS[layer[0]])
        out: bytes = layer[1].decompress(data, self.most + 1)
        if data:
            layer[2] = True  # its first bytes read: no other wrapper is tried after
        if last and not layer[1].unconsumed_tail:
            out += layer[1].flush()
        return out


_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
