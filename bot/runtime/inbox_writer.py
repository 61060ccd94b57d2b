"""The inbox's one writer in this process (group commit): what listeners and workers hand it while it writes goes
into its next transaction together, so a burst of acks waits for one commit, not for its turn at one commit each
(on SQLite, writers take turns)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

# The most rows of one transaction: a bound on a statement's parameters, far above a burst from Slack.
MOST_PER_COMMIT = 200


class InboxPort(Protocol):
    def write(self, takes: Sequence[tuple[str, str]], dones: Sequence[str]) -> set[str]: ...

    def take_again(self, key: str, body: str) -> bool: ...

    def release(self) -> None: ...


class InboxWriter:
    """Takes (the work of a request, with the request) and dones, each answered by a Future once committed."""

    def __init__(self, inbox: InboxPort):
        self.inbox = inbox
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, str | None, Future[bool]]] = []  # key, request (None: a done), answer
        self._writing = False
        self._closed = False
        # One thread, busy only while something waits: the listeners never wait on the database themselves.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox")

    def take(self, key: str, body: str) -> Future[bool]:
        """True once the work `key` is written, for the one caller on any instance that may do it; False for a
        replay or a retry of it."""
        return self._hand(key, body)

    def done(self, key: str) -> Future[bool]:
        return self._hand(key, None)

    def close(self, wait: bool = True) -> None:
        """Ends its thread once what waits is written, giving back the connection that thread keeps between writes."""
        with self._lock:
            closed, self._closed = self._closed, True
        if not closed:
            self._thread.submit(self.inbox.release)
        self._thread.shutdown(wait=wait)

    def _hand(self, key: str, body: str | None) -> Future[bool]:
        answer: Future[bool] = Future()
        with self._lock:
            self._waiting.append((key, body, answer))
            start, self._writing = not self._writing, True
        if start:
            self._thread.submit(self._write_all)
        return answer

    def _write_all(self) -> None:
        while True:
            with self._lock:
                batch, self._waiting = self._waiting[:MOST_PER_COMMIT], self._waiting[MOST_PER_COMMIT:]
                if not batch:
                    self._writing = False
                    return
            self._commit(batch)

    def _commit(self, batch: list[tuple[str, str | None, Future[bool]]]) -> None:
        takes = [(key, body) for key, body, _ in batch if body is not None]
        dones = [key for key, body, _ in batch if body is None]
        try:
            taken = self.inbox.write(takes, dones)
        except BaseException as exc:  # each caller says what it does without its row; the writer goes on
            for _, _, answer in batch:
                answer.set_exception(exc)
            return
        for key, body, answer in batch:
            if body is None:
                answer.set_result(True)
                continue
            answer.set_result(key in taken)
            taken.discard(key)  # the same request twice in one burst: the first may do it
