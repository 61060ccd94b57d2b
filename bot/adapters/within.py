"""An HTTP exchange within one bound of time, head and body.

httpx's timeouts bound each read, not the whole: an answer whose head or body is trickled (a stalled proxy, a
broken load balancer) holds its caller for as long as it goes on. The body is read here a chunk at a time against
the deadline. The head is read by httpx before it returns the response, so it is waited for on a thread of a small
pool of this client's own: the caller gives up at the deadline, and the thread, once the head comes or a read times
out, closes the answer no one waits for. A trickled head holds at most one of these threads, never the caller.
"""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import httpx

# Heads waited for at once: beyond them, a request waits its turn within its own deadline.
HEAD_THREADS = 32


def one_try_seconds(timeout: httpx.Timeout) -> float:
    """The longest one exchange may take: each of its timeouts in turn, as if each part took all of its own."""
    return sum(t or 0.0 for t in (timeout.pool, timeout.connect, timeout.write, timeout.read))


class Within:
    """Sends a client's requests, giving each answer's head until a deadline (see the module's docstring)."""

    def __init__(self, client: httpx.Client, name: str):
        self.client = client
        self.heads = ThreadPoolExecutor(HEAD_THREADS, thread_name_prefix=f"{name}-head")

    def send(self, request: httpx.Request, deadline: float) -> httpx.Response:
        """The answer to `request`, its head read and its body not yet (the caller reads it and closes it);
        httpx.ReadTimeout if the head has not come by `deadline` (time.monotonic)."""
        context = contextvars.copy_context()
        future = self.heads.submit(context.run, self.client.send, request, stream=True)
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            if not future.cancel():  # under way: its answer, once it comes, is closed unread
                future.add_done_callback(_close_unread)
            raise httpx.ReadTimeout("the answer's head did not arrive in time", request=request) from None

    def close(self) -> None:
        self.heads.shutdown(wait=False, cancel_futures=True)


def _close_unread(future: Future[httpx.Response]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


def read_within(response: httpx.Response, deadline: float, most: int) -> bytes | None:
    """The body, its Content-Encoding undone, or None if it is over `most` bytes; httpx.ReadTimeout if it has not
    all come by `deadline`."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > most:
            return None
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the answer's body did not arrive in time", request=response.request)
    return bytes(body)
