"""The inbox's one writer (group commit): what is handed to it while it commits goes into its next transaction
together; a replay or a retry within one burst is told it may not do the work; a failed commit is told to every
caller waiting for it. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest
import sqlalchemy as sa

from bot.adapters.schema import deliveries
from bot.adapters.store import Store
from bot.adapters.store.inbox import Inbox
from bot.runtime.inbox_writer import InboxWriter


class HeldInbox(Inbox):
    """An inbox whose first commit waits until the test lets it go on, with each commit's keys recorded."""

    def __init__(self, store: Store):
        super().__init__(lambda: store.engine, "here")
        self.commits: list[tuple[list[str], list[str]]] = []
        self.started, self.go_on = threading.Event(), threading.Event()
        self.failing = False

    def write(self, takes: Sequence[tuple[str, str]], dones: Sequence[str]) -> set[str]:
        self.commits.append(([key for key, _ in takes], list(dones)))
        if len(self.commits) == 1:
            self.started.set()
            self.go_on.wait(30)
        if self.failing:
            raise sa.exc.OperationalError("INSERT", {}, Exception("the database went away"))
        return super().write(takes, dones)


@pytest.fixture
def opened(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    store.migrate()
    yield store
    store.close()


def held(store: Store) -> dict[str, bool]:
    """Each row's key, and whether its work is still to do."""
    with store.engine.connect() as conn:
        return {key: body is not None for key, body in conn.execute(sa.select(deliveries.c.key, deliveries.c.body))}


def test_a_burst_handed_during_a_commit_shares_the_next_and_its_replays_may_not_do_the_work(opened: Store) -> None:
    inbox = HeldInbox(opened)
    writer = InboxWriter(inbox)
    first = writer.take("k0", "request 0")
    assert inbox.started.wait(30)
    burst = [writer.take(f"k{i}", f"request {i}") for i in (1, 2, 3)]
    retried = writer.take("k1", "request 1")  # Slack's retry of k1, in the same burst
    replayed = writer.take("k0", "request 0")  # a replay of the one written first
    done = writer.done("k0")
    inbox.go_on.set()
    assert first.result(30) and [taken.result(30) for taken in burst] == [True, True, True]
    assert not retried.result(30) and not replayed.result(30) and done.result(30)
    assert inbox.commits == [(["k0"], []), (["k1", "k2", "k3", "k1", "k0"], ["k0"])]
    assert held(opened) == {"k0": False, "k1": True, "k2": True, "k3": True}


def test_a_failed_commit_is_told_to_each_caller_and_the_next_burst_is_written(opened: Store) -> None:
    inbox = HeldInbox(opened)
    inbox.failing = True
    writer = InboxWriter(inbox)
    waiting = [writer.take("k0", "request 0")]
    assert inbox.started.wait(30)
    waiting += [writer.take("k1", "request 1"), writer.done("k2")]
    inbox.go_on.set()
    for answer in waiting:
        with pytest.raises(sa.exc.OperationalError):
            answer.result(30)
    inbox.failing = False
    assert writer.take("k3", "request 3").result(30)
    assert held(opened) == {"k3": True}


def test_a_writer_closed_twice_writes_what_waited_and_gives_its_connection_back_once(opened: Store) -> None:
    inbox = HeldInbox(opened)
    inbox.go_on.set()
    writer = InboxWriter(inbox)
    taken = writer.take("k0", "request 0")
    writer.close()
    writer.close()  # the runtime's stop and a test's fixture both close it
    assert taken.result(30) and held(opened) == {"k0": True}
