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
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

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
