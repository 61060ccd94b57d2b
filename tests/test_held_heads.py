"""A trickled answer's head holds its connection while its thread reads on after the caller gave up
(bot/adapters/within.py): httpx offers no documented way to end a read from another thread. What bounds them is
Within's count of such threads (MOST_HEAD_THREADS), not the pool: PlanetScale's and Slack's transports set no
`max_connections` (httpx's default client bounds its pool at 100), so the held connections never make a new request
wait for one. Were the pool bounded as httpx's default is, one broken node met 100 times (the watch's reads, a bulk
change) would take the whole of PlanetScale from the bot until its trickles end (this test fails then)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import Bot, bot_over
from test_head_threads_compression_and_sigterm import OneBadNode

from bot.adapters import within
from bot.adapters.planetscale import PlanetScaleClient, PlanetScaleError, RetryPolicy
from bot.emulators.serving import BackgroundServer
from bot.emulators.slack import SlackEmulator, SlackState
from bot.runtime.app import planetscale_transport
from bot.runtime.settings import Settings

POOL = 100  # httpx's default max_connections for a client given no transport


@pytest.fixture
def behind_one_bad_node(settings: Settings, slack: SlackState, slack_server: tuple[SlackEmulator, BackgroundServer],
                        tmp_path: Path) -> Iterator[tuple[Bot, OneBadNode, PlanetScaleClient]]:
    server = OneBadNode()
    client = PlanetScaleClient("id", "token", server.url + "/v1", retry=RetryPolicy(attempts=1),
                               sleep=lambda _: None, timeout=httpx.Timeout(0.5), transport=planetscale_transport())
    for bot in bot_over(client, settings, slack, slack_server, tmp_path):
        yield bot, server, client
    server.close()


def test_planetscale_is_reached_again_after_more_heads_trickled_than_the_pool_has_connections(
        behind_one_bad_node: tuple[Bot, OneBadNode, PlanetScaleClient]) -> None:
    bot, server, client = behind_one_bad_node
    with ThreadPoolExecutor(POOL) as pool:
        tries = [pool.submit(client.list_databases, "acme") for _ in range(POOL)]
        for tried in tries:
            with pytest.raises(PlanetScaleError):
                tried.result()
    server.bad = False  # the node is out of rotation: new connections are answered at once
    said = bot.command("show acme/app-db bp01prod12h").all_text()
    assert server.answered > 0, f"the request never reached PlanetScale; the person was told: {said}"


def answering_on(threads: list[threading.Thread], most_at_once: list[int]) -> httpx.MockTransport:
    """PlanetScale's HTTP edge, answering an empty page of databases; it records the thread that sent each request
    and the most requests it held at once."""
    lock, under_way = threading.Lock(), [0]

    def answered(_: httpx.Request) -> httpx.Response:
        with lock:
            threads.append(threading.current_thread())
            under_way[0] += 1
            most_at_once[0] = max(most_at_once[0], under_way[0])
        time.sleep(0.001)
        with lock:
            under_way[0] -= 1
        return httpx.Response(200, json={"data": [], "next_page": None})

    return httpx.MockTransport(answered)


def test_requests_one_after_another_are_sent_from_one_thread() -> None:
    """Each request's head is waited for on a thread: one started for every request made its caller wait for the
    start each time. A thread that is done waits for the next request."""
    threads: list[threading.Thread] = []
    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=1),
                               sleep=lambda _: None, transport=answering_on(threads, [0]))
    for _ in range(20):
        assert client.list_databases("acme") == []
    assert len(threads) == 20
    assert len(set(threads)) == 1, f"{len(set(threads))} threads for 20 requests one after another"


def test_requests_at_once_each_get_a_thread_while_threads_come_and_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads end once idle while requests come: every request is still answered, none left waiting for a
    thread that ended."""
    monkeypatch.setattr(within, "IDLE_SECONDS", 0.0005)
    threads: list[threading.Thread] = []
    most_at_once = [0]
    client = PlanetScaleClient("id", "token", "https://api.planetscale.test/v1", retry=RetryPolicy(attempts=1),
                               sleep=lambda _: None, transport=answering_on(threads, most_at_once))
    with ThreadPoolExecutor(8) as callers:
        answers = list(callers.map(lambda _: client.list_databases("acme"), range(400)))
    assert answers == [[]] * 400
    assert len(threads) == 400
    assert len(set(threads)) > 8  # threads did end and others were started
